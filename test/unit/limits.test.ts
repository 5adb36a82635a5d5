import { describe, expect, it } from 'vitest';
import { parseDefinition } from '../../shared/model/definition.js';
import { LIMITS, jsonDepthExceeds } from '../../shared/model/limits.js';

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { v: value };
  return value;
}

describe('jsonDepthExceeds', () => {
  it('counts arrays and objects, not scalars', () => {
    expect(jsonDepthExceeds(1, 0)).toBe(false);
    expect(jsonDepthExceeds([], 0)).toBe(true);
    expect(jsonDepthExceeds(nested(3), 3)).toBe(false);
    expect(jsonDepthExceeds(nested(4), 3)).toBe(true);
  });

  it('answers for any depth without recursion', () => {
    expect(jsonDepthExceeds(nested(100_000), LIMITS.maxJsonDepth)).toBe(true);
  });
});

describe('parseDefinition on deeply nested input', () => {
  it('refuses a definition nested past the limit instead of overflowing the stack', () => {
    let when: unknown = { path: 'input.a', op: 'exists' };
    for (let i = 0; i < 5000; i++) when = { not: when };
    const result = parseDefinition({ id: 'w', tasks: [{ id: 'a', handler: 'h', when }] });
    expect(result).toEqual({
      ok: false,
      problems: [{ path: '', message: `definition nests objects and arrays deeper than ${LIMITS.maxJsonDepth} levels` }],
    });
  });
});
