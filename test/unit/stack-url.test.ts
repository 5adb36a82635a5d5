// The CLI's --stack: a deployed stack's ApiUrl read from CloudFormation (the SDK client mocked).
import { CloudFormationClient, CloudFormationServiceException, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { apiUrlOfStack } from '../../client/stack.js';

const cloudFormation = mockClient(CloudFormationClient);
const client = () => new CloudFormationClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });

afterEach(() => cloudFormation.reset());

describe("a stack's API URL", () => {
  it('is its ApiUrl output', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'Dagflow' }).resolves({
      Stacks: [{ StackName: 'Dagflow', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [{ OutputKey: 'TableName', OutputValue: 't' }, { OutputKey: 'ApiUrl', OutputValue: 'https://abc.execute-api.eu-west-1.amazonaws.com/' }] }],
    });
    await expect(apiUrlOfStack('Dagflow', client())).resolves.toBe('https://abc.execute-api.eu-west-1.amazonaws.com/');
  });

  it('says so in one line when the stack does not exist, naming the region', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(new CloudFormationServiceException({ name: 'ValidationError', $fault: 'client', $metadata: {}, message: 'Stack with id Nope does not exist' }));
    await expect(apiUrlOfStack('Nope', client())).rejects.toThrow('stack "Nope" does not exist in eu-west-1');
  });

  it('says so when the stack has no ApiUrl output', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Other', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }] });
    await expect(apiUrlOfStack('Other', client())).rejects.toThrow('stack "Other" has no ApiUrl output: is it a dagflow stack?');
  });
});
