// The local S3 endpoint for large payloads: the npm package s3rver (a real S3 protocol server:
// PUT, GET, presigned URLs) on 127.0.0.1, keeping its objects in a folder: under the data
// directory when there is one, else a temporary folder removed on stop. The bucket is created on
// start, like the CDK stack's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface S3Server {
  /** Pass as `endpoint` to an S3Client (with LOCAL_AWS credentials and region, path-style). */
  endpoint: string;
  port: number;
  bucket: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
export const LOCAL_PAYLOAD_BUCKET = 'dagflow-payloads';
/** s3rver checks signatures against its one built-in key pair. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export async function startS3Server(options: { directory?: string } = {}): Promise<S3Server> {
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'dagflow-s3-')));
  const server = new S3rver({ address: HOST, port: 0, directory, silent: true, configureBuckets: [{ name: LOCAL_PAYLOAD_BUCKET }] });
  const { port } = await server.run();
  return {
    endpoint: `http://${HOST}:${port}`,
    port,
    bucket: LOCAL_PAYLOAD_BUCKET,
    stop: async () => {
      await server.close();
      if (options.directory === undefined) await rm(directory, { recursive: true, force: true });
    },
  };
}
