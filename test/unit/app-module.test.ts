// A team's app module for the local engine (local/app-module.ts): what it must export, and every
// definition checked against its own handler names before anything starts.
import { describe, expect, it } from 'vitest';
import { checkApp } from '../../local/app-module.js';
import { workflow, type TaskHandler } from '../../shared/index.js';

const noop: TaskHandler = async () => ({});

describe('checkApp', () => {
  it('returns the handlers and the checked definitions of builders and JSON alike', () => {
    const app = checkApp('app.ts', {
      handlers: new Map([['charge', noop]]),
      workflows: [workflow('built').task('a', { handler: 'charge' }), { id: 'plain', tasks: [{ id: 'p', type: 'pass' }] }],
    });
    expect(app.definitions.map((definition) => definition.id)).toEqual(['built', 'plain']);
    expect([...app.handlers.keys()]).toEqual(['charge']);
  });

  it('names what is missing from the exports', () => {
    expect(() => checkApp('app.ts', { workflows: [] })).toThrow(/app\.ts: must export `handlers`, a Map/);
    expect(() => checkApp('app.ts', { handlers: new Map([['x', 'not a function']]), workflows: [] })).toThrow(/must export `handlers`/);
    expect(() => checkApp('app.ts', { handlers: new Map() })).toThrow(/must export `workflows`, an array/);
  });

  it('refuses a workflow naming a handler the app does not export, and a workflow given twice', () => {
    expect(() => checkApp('app.ts', { handlers: new Map(), workflows: [workflow('w').task('a', { handler: 'ghost' })] })).toThrow(
      /w\.tasks\.a\.handler: unknown handler/,
    );
    const twice = { id: 'same', tasks: [{ id: 'p', type: 'pass' }] };
    expect(() => checkApp('app.ts', { handlers: new Map(), workflows: [twice, twice] })).toThrow(/workflow "same" is given twice/);
  });
});
