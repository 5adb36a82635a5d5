// The S3 payload store on a mocked S3 client: what it sends, and how S3's failures are classified
// (the service's are retryable, a refusal is not, a missing object is the table's inconsistency).
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { S3PayloadStore } from '../../shared/aws/s3-payloads.js';
import { loadPayloadBucket } from '../../shared/config/env.js';
import { EngineError } from '../../shared/model/errors.js';

const s3 = mockClient(S3Client);
const store = new S3PayloadStore(new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } }), 'payload-bucket');

afterEach(() => s3.reset());

const failure = (name: string, fault: 'client' | 'server') => new S3ServiceException({ name, $fault: fault, $metadata: {}, message: name });

describe('S3PayloadStore', () => {
  it('puts a payload as JSON under its key, and gets it back as text', async () => {
    s3.on(PutObjectCommand).resolves({});
    // The part of the SDK's stream body the store reads.
    const body = { transformToString: (encoding?: string) => Promise.resolve(encoding === 'utf8' ? '{"a":1}' : '') };
    s3.on(GetObjectCommand).resolves({ Body: body as never });
    await store.put('runs/r/input.json', '{"a":1}');
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toEqual({ Bucket: 'payload-bucket', Key: 'runs/r/input.json', Body: '{"a":1}', ContentType: 'application/json' });
    expect(await store.get('runs/r/input.json')).toBe('{"a":1}');
  });

  it("makes S3's own failures retryable, a refusal not, and a missing object a plain error", async () => {
    s3.on(PutObjectCommand).rejects(failure('SlowDown', 'server'));
    const slow = await store.put('k', '1').catch((error: unknown) => error);
    expect(slow).toBeInstanceOf(EngineError);
    expect(slow).toMatchObject({ code: 'PAYLOADS_UNAVAILABLE', retryable: true });

    s3.on(PutObjectCommand).rejects(failure('AccessDenied', 'client'));
    expect(await store.put('k', '1').catch((error: unknown) => error)).toMatchObject({ code: 'PAYLOADS_REFUSED', retryable: false });

    s3.on(GetObjectCommand).rejects(new NoSuchKey({ $metadata: {}, message: 'gone' }));
    const missing = await store.get('k').catch((error: unknown) => error);
    expect(missing).not.toBeInstanceOf(EngineError);
    expect(String(missing)).toContain('missing from the bucket');
  });
});

describe('loadPayloadBucket', () => {
  it('reads PAYLOAD_BUCKET, none when unset, and names the variable when it is no bucket name', () => {
    expect(loadPayloadBucket({ PAYLOAD_BUCKET: 'dagflow-payloads-1a2b' })).toBe('dagflow-payloads-1a2b');
    expect(loadPayloadBucket({})).toBeUndefined();
    expect(() => loadPayloadBucket({ PAYLOAD_BUCKET: 'Not A Bucket' })).toThrow(/PAYLOAD_BUCKET must be a bucket name/);
  });
});
