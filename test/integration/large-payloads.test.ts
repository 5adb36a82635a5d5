// Large payloads through the real local path (HTTP -> api -> DynamoDB Local -> stream -> scheduler
// -> SQS -> worker), with the local S3 protocol server (s3rver) that `npm start` runs: an output
// or input over the inline limit is an object of its own, referenced from its item, and reaches
// handlers, templates and child runs as if it were inline; GET /runs/{id} links it instead of
// carrying it, and the link gives it back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { LocalRuntime } from '../../local/runtime.js';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3-server.js';
import { createS3Client } from '../../shared/aws/s3-payloads.js';
import { LIMITS } from '../../shared/model/limits.js';
import type { TaskContext } from '../../shared/tasks/context.js';
import { type ApiClient, register, startRuntime, startRunViaApi, waitForRun } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
const errors: unknown[] = [];
/** What the consuming handler saw of the big output: its length and its last character. */
const seen: Array<{ length: number; tail: string; inputLength: number }> = [];

const FIVE_MB = 5 * 1024 * 1024;

beforeAll(async () => {
  ({ runtime, api } = await startRuntime(
    {
      make_big: async (ctx: TaskContext) => ({ blob: 'x'.repeat(FIVE_MB - 20) + 'END', size: (ctx.input as { size?: number }).size ?? 0 }),
      make_huge: async () => 'h'.repeat(LIMITS.maxPayloadBytes),
      take_big: async (ctx: TaskContext) => {
        const blob = (ctx.upstream['make'] as { output: { blob: string } }).output.blob;
        const input = ctx.input as { blob?: string };
        seen.push({ length: blob.length, tail: blob.slice(-3), inputLength: input.blob?.length ?? 0 });
        return { took: blob.length };
      },
    },
    (source, error) => errors.push({ source, error }),
  ));
});

afterAll(async () => {
  await runtime?.stop();
});

const task = (run: { tasks: Array<{ taskId: string }> }, taskId: string): any => run.tasks.find((t) => t.taskId === taskId);

describe('large payloads, through the local runtime', () => {
  it('pass a 5 MB output from one task to the next, and link it from GET /runs/{id}', async () => {
    await register(api, {
      id: 'lp_flow',
      tasks: [
        { id: 'make', handler: 'make_big' },
        { id: 'take', handler: 'take_big', dependsOn: ['make'] },
        // A template reads into the stored output too.
        { id: 'size', type: 'pass', dependsOn: ['make'], when: { path: 'upstream.make.output.size', op: 'eq', value: 0 }, output: { ok: true } },
      ],
    });
    const runId = await startRunViaApi(api, 'lp_flow', {});
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    expect(seen.at(-1)).toMatchObject({ length: FIVE_MB - 17, tail: 'END' });
    expect(task(run, 'size').status).toBe('SUCCEEDED');

    const make = task(run, 'make');
    expect(make.output).toBeUndefined();
    expect(make.outputRef).toEqual({ bytes: expect.any(Number), href: `/runs/${runId}/tasks/make/output` });
    expect(make.outputRef.bytes).toBeGreaterThan(FIVE_MB);
    const view = await fetch(`${runtime.apiUrl}/runs/${runId}`);
    expect(Number((await view.text()).length)).toBeLessThan(64 * 1024);

    // The link gives the output back (a redirect to the object, followed).
    const fetched = await fetch(`${runtime.apiUrl}${make.outputRef.href}`);
    expect(fetched.status).toBe(200);
    const body = (await fetched.json()) as { blob: string };
    expect(body.blob.length).toBe(FIVE_MB - 17);
    // A small output is served by the same route, inline.
    expect((await api.get(`/runs/${runId}/tasks/take/output`)).body).toEqual({ took: FIVE_MB - 17 });
    expect((await api.get(`/runs/${runId}/tasks/nope/output`)).status).toBe(404);
  });

  it('take a 6 MB run input through POST /runs, keep it apart, and hand it to handlers', async () => {
    const blob = 'i'.repeat(6 * 1024 * 1024);
    const { status, body } = await api.post('/runs', { workflowId: 'lp_flow', input: { blob } });
    expect(status).toBe(201);
    const run = await waitForRun(api, body.runId);
    expect(run.status).toBe('COMPLETED');
    expect(seen.at(-1)?.inputLength).toBe(blob.length);
    expect(run.input).toBeUndefined();
    expect(run.inputRef).toEqual({ bytes: expect.any(Number), href: `/runs/${body.runId}/input` });
    const input = (await (await fetch(`${runtime.apiUrl}${run.inputRef.href}`)).json()) as { blob: string };
    expect(input.blob.length).toBe(blob.length);

    // The objects are where the references say, one per payload, under the run's prefix.
    const s3 = createS3Client({ region: LOCAL_AWS.region, credentials: LOCAL_S3_CREDENTIALS, endpoint: runtime.s3Endpoint });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'dagflow-payloads', Prefix: `runs/${body.runId}/` }));
    expect((listed.Contents ?? []).map((object) => object.Key).sort()).toEqual([`runs/${body.runId}/input.json`, expect.stringMatching(new RegExp(`^runs/${body.runId}/tasks/make/1-`))]);
    const stored = await s3.send(new GetObjectCommand({ Bucket: 'dagflow-payloads', Key: `runs/${body.runId}/input.json` }));
    expect(stored.ContentLength).toBe(run.inputRef.bytes);
    s3.destroy();
  });

  it('refuse an input over the limit with a 413 and start nothing; fail an output over it with OutputTooLarge, not retried', async () => {
    const before = (await api.get('/runs?workflowId=lp_flow')).body.runs.length as number;
    const { status, body } = await api.post('/runs', { workflowId: 'lp_flow', input: { blob: 'o'.repeat(LIMITS.maxPayloadBytes) } });
    expect(status).toBe(413);
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await api.get('/runs?workflowId=lp_flow')).body.runs).toHaveLength(before);

    await register(api, { id: 'lp_huge', tasks: [{ id: 'huge', handler: 'make_huge', retry: { maxRetries: 2, initialDelaySeconds: 0 } }] });
    const run = await waitForRun(api, await startRunViaApi(api, 'lp_huge', {}));
    expect(run.status).toBe('FAILED');
    expect(task(run, 'huge')).toMatchObject({ status: 'FAILED', attempt: 1, error: { name: 'OutputTooLarge' } });
    expect(errors).toEqual([]);
  });
});
