import type { Problem } from './errors.js';
import type { WorkflowDefinition } from './definition.js';
export function checkGraph(_d: WorkflowDefinition): Problem[] { return []; }
