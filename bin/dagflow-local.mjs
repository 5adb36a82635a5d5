#!/usr/bin/env node
// `npx dagflow-local [--app <module>]`: the whole engine on this machine with a team's own handlers
// and workflows (local/main.ts; `npm start` in this repository runs the same with its examples).
import { register } from 'tsx/esm/api';

register();
await import('../local/main.ts');
