// A deployed stack as the client sees it, from CloudFormation, with the AWS SDK's default region
// and credential chain (AWS_REGION, AWS_PROFILE, SSO, ...): its API URL (the `ApiUrl` output), the
// stack an execute-api URL belongs to, and its log groups (for `dagflow logs`).
import { CloudFormationClient, DescribeStackResourcesCommand, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';

export const API_URL_OUTPUT = 'ApiUrl';

export async function apiUrlOfStack(stackName: string, client: CloudFormationClient = new CloudFormationClient({})): Promise<string> {
  let outputs;
  try {
    outputs = (await client.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0]?.Outputs;
  } catch (error) {
    throw await stackError(stackName, error, client);
  }
  const url = outputs?.find((output) => output.OutputKey === API_URL_OUTPUT)?.OutputValue;
  if (url === undefined) throw new Error(`stack "${stackName}" has no ${API_URL_OUTPUT} output: is it a dagflow stack?`);
  return url;
}

/** The id of an API Gateway URL (https://<id>.execute-api.<region>.amazonaws.com/...), if it is one. */
export function apiIdOf(url: string): string | undefined {
  return /^([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com$/.exec(new URL(url).hostname)?.[1];
}

/** The name of the stack that created the API behind an execute-api URL (CloudFormation knows its resources by physical id). */
export async function stackOfApiUrl(url: string, client: CloudFormationClient = new CloudFormationClient({})): Promise<string> {
  const apiId = apiIdOf(url);
  if (apiId === undefined) throw new Error(`${url} is not an execute-api URL: give the stack's name (--stack)`);
  let stackName: string | undefined;
  try {
    stackName = (await client.send(new DescribeStackResourcesCommand({ PhysicalResourceId: apiId }))).StackResources?.[0]?.StackName;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!/does not exist/.test(message)) throw new Error(`cannot find the stack of API ${apiId}: ${message}`);
  }
  if (stackName === undefined) throw new Error(`no stack in ${await client.config.region()} created API ${apiId}: give the stack's name (--stack)`);
  return stackName;
}

/** A log group of a stack, with the logical id CloudFormation knows it by (e.g. FunctionsWorkerLogs81C46784). */
export interface StackLogGroup {
  name: string;
  logicalId: string;
}

/**
 * Every log group the stack created: the functions' and the API's access logs. They sit under
 * construct paths (FunctionsWorkerLogs..., ApiAccessLogs...), so all of them are taken rather
 * than guessed by name.
 */
export async function logGroupsOfStack(stackName: string, client: CloudFormationClient = new CloudFormationClient({})): Promise<StackLogGroup[]> {
  const groups: StackLogGroup[] = [];
  let nextToken: string | undefined;
  do {
    let page;
    try {
      page = await client.send(new ListStackResourcesCommand({ StackName: stackName, ...(nextToken === undefined ? {} : { NextToken: nextToken }) }));
    } catch (error) {
      throw await stackError(stackName, error, client);
    }
    for (const resource of page.StackResourceSummaries ?? []) {
      if (resource.ResourceType !== 'AWS::Logs::LogGroup' || resource.PhysicalResourceId === undefined) continue;
      groups.push({ name: resource.PhysicalResourceId, logicalId: resource.LogicalResourceId ?? resource.PhysicalResourceId });
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  if (groups.length === 0) throw new Error(`stack "${stackName}" has no log groups: is it a dagflow stack?`);
  return groups;
}

/** One line for a failed read of a stack, naming the region when the stack is not there. */
async function stackError(stackName: string, error: unknown, client: CloudFormationClient): Promise<Error> {
  const message = error instanceof Error ? error.message : String(error);
  if (/does not exist/.test(message)) return new Error(`stack "${stackName}" does not exist in ${await client.config.region()}`);
  return new Error(`cannot read stack "${stackName}": ${message}`);
}
