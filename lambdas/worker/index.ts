// Lambda entry point of the repository's own worker: the engine's worker (create.ts) with the
// example app's handlers (workflows/). A team's stack gets an entry like this one, written by the
// DagflowEngine construct for the team's own handler module.
import { handlers } from '../../workflows/index.js';
import { createWorker } from './create.js';

export const handler = createWorker(handlers);
