// A deployed stack's API URL, read from its CloudFormation outputs (`ApiUrl`), with the AWS SDK's
// default region and credential chain (AWS_REGION, AWS_PROFILE, SSO, ...).
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';

export const API_URL_OUTPUT = 'ApiUrl';

export async function apiUrlOfStack(stackName: string, client: CloudFormationClient = new CloudFormationClient({})): Promise<string> {
  let outputs;
  try {
    outputs = (await client.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0]?.Outputs;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/does not exist/.test(message)) throw new Error(`stack "${stackName}" does not exist in ${await client.config.region()}`);
    throw new Error(`cannot read stack "${stackName}": ${message}`);
  }
  const url = outputs?.find((output) => output.OutputKey === API_URL_OUTPUT)?.OutputValue;
  if (url === undefined) throw new Error(`stack "${stackName}" has no ${API_URL_OUTPUT} output: is it a dagflow stack?`);
  return url;
}
