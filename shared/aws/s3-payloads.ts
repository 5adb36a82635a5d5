// The payload store on S3 (shared/engine/payloads.ts): one object per large input or output, in
// the engine's payload bucket; a lifecycle rule removes them with their runs. Locally the same
// client talks to an S3 protocol server (path-style addressing).
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { EngineError } from '../model/errors.js';
import type { PayloadStore } from '../engine/payloads.js';

/** How long a link to a payload works. */
const URL_SECONDS = 300;

export class S3PayloadStore implements PayloadStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, json: string): Promise<void> {
    await this.call(() => this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: json, ContentType: 'application/json' })));
  }

  async get(key: string): Promise<string> {
    const response = await this.call(() => this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
    if (response.Body === undefined) throw new Error(`payload ${key} has no body`);
    return response.Body.transformToString('utf8');
  }

  url(key: string): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: URL_SECONDS });
  }

  /**
   * S3's failures, after the SDK's own retries: the service's (throttling, 5xx, no answer) leave
   * the bucket unavailable for now, retryable; a refusal (denied, no such bucket) is not.
   */
  private async call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (error instanceof NoSuchKey) throw new Error('a payload the table refers to is missing from the bucket', { cause: error });
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const refused = (error as { $fault?: string }).$fault === 'client';
      throw new EngineError(refused ? 'PAYLOADS_REFUSED' : 'PAYLOADS_UNAVAILABLE', `the payload bucket ${refused ? 'refused the request' : 'did not answer'}: ${reason}`, {
        retryable: !refused,
        cause: error,
      });
    }
  }
}

export function createS3Client(options: { endpoint?: string; region?: string; credentials?: { accessKeyId: string; secretAccessKey: string } } = {}): S3Client {
  return new S3Client({
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
  });
}
