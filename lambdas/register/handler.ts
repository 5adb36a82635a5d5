// The register function: a CloudFormation custom resource that registers the app's workflow
// definitions when the stack is deployed (the DagflowEngine construct, infra/engine.ts). Saving is
// idempotent by content version: a deploy that does not change a definition changes nothing, and
// one that does makes its new version the workflow's latest (runs keep the version they started
// with). Deleting the resource (or the stack) keeps the definitions: stored runs refer to them.
//
// CloudFormation waits for an answer PUT to the event's presigned URL, up to an hour: every path,
// a bad definition or a failed write included, answers SUCCESS or FAILED with a reason that
// `cdk deploy` prints.
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse } from 'aws-lambda';
import type { DefinitionStore } from '../../shared/engine/ports.js';
import { buildDefinitions } from '../../shared/model/builder.js';
import type { WorkflowDefinitionInput } from '../../shared/model/definition.js';

/** The custom resource's properties (CloudFormation passes every value as a string). */
export const REGISTER_PROPERTIES = { definitions: 'Definitions' } as const;

export interface RegisterDeps {
  definitions: Pick<DefinitionStore, 'saveDefinition'>;
  /** The worker's handler names: a definition naming another is refused, as by the API. */
  knownHandlers: ReadonlySet<string>;
  /** PUTs the answer to CloudFormation's presigned URL. */
  respond: (url: string, body: string) => Promise<void>;
  logError: (message: string, extra: Record<string, unknown>) => void;
}

export type RegisterHandler = (event: CloudFormationCustomResourceEvent) => Promise<void>;

export function buildRegister(deps: RegisterDeps): RegisterHandler {
  return async (event) => {
    const answer = await outcome(event, deps).catch((error: unknown) => {
      deps.logError('registering the workflows failed', { requestType: event.RequestType, error });
      return { Status: 'FAILED' as const, Reason: reasonOf(error) };
    });
    const response: CloudFormationCustomResourceResponse = {
      ...answer,
      // Always the same id: an update never looks like a replacement, so no Delete follows it.
      PhysicalResourceId: event.RequestType === 'Create' ? `${event.LogicalResourceId}-definitions` : event.PhysicalResourceId,
      StackId: event.StackId,
      RequestId: event.RequestId,
      LogicalResourceId: event.LogicalResourceId,
    } as CloudFormationCustomResourceResponse;
    await deps.respond(event.ResponseURL, JSON.stringify(response));
  };
}

async function outcome(
  event: CloudFormationCustomResourceEvent,
  deps: RegisterDeps,
): Promise<{ Status: 'SUCCESS'; Data?: Record<string, string> } | { Status: 'FAILED'; Reason: string }> {
  if (event.RequestType === 'Delete') return { Status: 'SUCCESS' };
  const raw = event.ResourceProperties[REGISTER_PROPERTIES.definitions] as unknown;
  const sources = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
  if (!Array.isArray(sources)) return { Status: 'FAILED', Reason: `${REGISTER_PROPERTIES.definitions} must be a JSON array of definitions` };
  const definitions = buildDefinitions(sources as WorkflowDefinitionInput[], { knownHandlers: deps.knownHandlers });
  const versions: Record<string, string> = {};
  for (const definition of definitions) {
    versions[definition.id] = (await deps.definitions.saveDefinition(definition)).version;
  }
  return { Status: 'SUCCESS', Data: versions };
}

/** CloudFormation shows at most 4 KB of reason. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 4000 ? `${message.slice(0, 3997)}...` : message;
}

/** The answer as CloudFormation wants it: a PUT with no content type (the URL's signature has none). */
export async function putResponse(url: string, body: string): Promise<void> {
  const response = await fetch(url, { method: 'PUT', headers: { 'content-type': '' }, body });
  if (!response.ok) throw new Error(`CloudFormation's response URL answered ${response.status}`);
}
