#!/usr/bin/env node
// `npx dagflow ...`: the command line (cli/dagflow.ts). The package ships its TypeScript sources,
// so the command loads them through tsx's loader instead of a build step.
import { register } from 'tsx/esm/api';

register();
const { runProcess } = await import('../cli/dagflow.ts');
await runProcess();
