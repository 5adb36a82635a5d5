// `{{secret:NAME}}` in definitions: the template engine keeps it apart from value paths, and the
// definition checks allow it in http header values only, with a well-formed name.
import { describe, expect, it } from 'vitest';
import { placeholderPaths, renderTemplate, secretReferences, type ValueScope } from '../../shared/model/condition.js';
import { parseDefinition } from '../../shared/model/definition.js';

const scope: ValueScope = { input: { user: '{{secret:payments/stripe-key}}', id: 7 }, upstream: {} };
const secrets = new Map([['payments/stripe-key', 'sk_live_1']]);

function problemsOf(raw: unknown): string[] {
  const result = parseDefinition(raw);
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

const httpTask = (http: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: 'charge',
  type: 'http',
  http: { url: 'https://api.example.com/charge', method: 'POST', ...http },
  ...extra,
});

describe('secret placeholders in templates', () => {
  it('are not value paths: placeholderPaths skips them and rendering without secrets leaves them as text', () => {
    expect(placeholderPaths({ a: 'Bearer {{secret:payments/stripe-key}}', b: '{{ secret:x }} {{input.id}}' })).toEqual(['input.id']);
    expect(renderTemplate('Bearer {{secret:payments/stripe-key}} for {{input.id}}', scope)).toBe(
      'Bearer {{secret:payments/stripe-key}} for 7',
    );
  });

  it('are replaced in the same pass as paths, so a value from the input never names a secret', () => {
    expect(renderTemplate('Bearer {{secret:payments/stripe-key}}', scope, { secrets })).toBe('Bearer sk_live_1');
    expect(renderTemplate('{{ secret:payments/stripe-key }}', scope, { secrets })).toBe('sk_live_1');
    expect(renderTemplate('user={{input.user}}', scope, { secrets })).toBe('user={{secret:payments/stripe-key}}');
  });

  it('are listed by name, in strings, array items, values and keys, malformed names included', () => {
    expect(secretReferences({ k: ['{{secret:a}} {{secret:b/c}}'], '{{secret:d}}': 1, e: '{{secret:bad name}}', f: '{{other}}' })).toEqual([
      'a',
      'b/c',
      'd',
      'bad name',
    ]);
  });
});

describe('parseDefinition: secrets', () => {
  it('accepts secrets in the header values of an http task and of an http compensation', () => {
    expect(
      problemsOf({
        id: 'pay',
        tasks: [
          httpTask(
            { headers: { Authorization: 'Bearer {{secret:payments/stripe-key}}', 'x-api-key': '{{secret:K1.b+c=d@e_f-g}}' } },
            {
              compensate: {
                type: 'http',
                http: { url: 'https://api.example.com/refund', method: 'POST', headers: { Authorization: 'Bearer {{secret:payments/stripe-key}}' } },
              },
            },
          ),
        ],
      }),
    ).toEqual([]);
  });

  it('refuses a secret anywhere else, naming where', () => {
    const problems = problemsOf({
      id: 'leaky',
      description: 'uses {{secret:a}}',
      tasks: [
        { id: 'first', type: 'pass', output: { token: ['{{secret:a}}'] } },
        httpTask(
          {
            url: 'https://api.example.com/charge?key={{secret:a}}',
            headers: { '{{secret:a}}': 'v' },
            body: { auth: 'Bearer {{secret:a}}' },
          },
          { dependsOn: ['first'], when: { path: 'input.x', op: 'eq', value: '{{secret:a}}' } },
        ),
        { id: 'handled', handler: 'h', params: { key: '{{secret:a}}' }, compensate: '{{secret:a}}' },
        { id: 'invoke', type: 'lambda', lambda: { functionName: 'f', payload: { key: '{{secret:a}}' } } },
        {
          id: 'undo_body',
          type: 'pass',
          compensate: { type: 'http', http: { url: 'https://api.example.com/x', method: 'POST', body: '{{secret:a}}' } },
        },
      ],
    });
    const refused = (path: string) => `${path}: secrets may only be used in http headers`;
    expect(problems.sort()).toEqual(
      [
        refused('description'),
        refused('tasks.first.output.token.0'),
        refused('tasks.charge.http.url'),
        refused('tasks.charge.http.headers.{{secret:a}}'),
        refused('tasks.charge.http.body.auth'),
        refused('tasks.charge.when.value'),
        refused('tasks.handled.params.key'),
        refused('tasks.handled.compensate'),
        refused('tasks.invoke.lambda.payload.key'),
        refused('tasks.undo_body.compensate.http.body'),
      ].sort(),
    );
  });

  it('refuses a malformed secret name in a header', () => {
    expect(
      problemsOf({
        id: 'bad_names',
        tasks: [httpTask({ headers: { a: '{{secret:}}', b: '{{secret:/leading-slash}}', c: 'x {{secret:has space}}', d: `{{secret:${'n'.repeat(513)}}}` } })],
      }),
    ).toEqual([
      'tasks.charge.http.headers.a: secret name "" is invalid: it must start with a letter or digit and use only letters, digits and / _ + = . @ -',
      'tasks.charge.http.headers.b: secret name "/leading-slash" is invalid: it must start with a letter or digit and use only letters, digits and / _ + = . @ -',
      'tasks.charge.http.headers.c: secret name "has space" is invalid: it must start with a letter or digit and use only letters, digits and / _ + = . @ -',
      'tasks.charge.http.headers.d: secret name is longer than 512 characters',
    ]);
  });
});
