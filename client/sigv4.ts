// AWS Signature Version 4 for the client's requests to a deployed stack, whose HTTP API uses IAM
// authorization: the signing itself is @smithy/signature-v4 (the SDK's own), the credentials come
// from the SDK's default chain (environment, shared config and credentials files with profiles,
// SSO, web identity, container and instance roles).
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignerOptions {
  /** The API's region; by default the one in an execute-api host name, else AWS_REGION. */
  region?: string;
  /** Default: the SDK's default credential chain (AWS_PROFILE selects a profile). */
  credentials?: () => Promise<Credentials>;
  /** Default: execute-api (API Gateway). */
  service?: string;
  /** The signing time (tests); default now. */
  now?: () => Date;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** SHA-256 (and its HMAC) as the signer wants it, from node:crypto. */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    throw new Error('not supported');
  }
}

/** The region of an API Gateway URL (https://<id>.execute-api.<region>.amazonaws.com/...), if it is one. */
export function regionOf(url: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(url).hostname)?.[1];
}

/** A `sign` hook for DagflowClient: each request gets its SigV4 Authorization (and session token) headers. */
export function sigV4Signer(options: SignerOptions = {}): (request: Request) => Promise<Request> {
  const credentials = options.credentials ?? defaultProvider();
  return async (request) => {
    const url = new URL(request.url);
    const region = options.region ?? regionOf(request.url) ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'];
    if (region === undefined) throw new Error(`no AWS region for ${url.host}: set AWS_REGION`);
    const signer = new SignatureV4({ service: options.service ?? 'execute-api', region, credentials, sha256: Sha256, uriEscapePath: true, applyChecksum: false });
    const body = request.body === null ? undefined : await request.text();
    const headers: Record<string, string> = { host: url.host };
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const signed = await signer.sign(
      {
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port === '' ? {} : { port: Number(url.port) }),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams.entries()),
        headers,
        ...(body === undefined ? {} : { body }),
      },
      { signingDate: options.now?.() ?? new Date() },
    );
    const outgoing = new Headers();
    // fetch sets Host itself from the URL.
    for (const [name, value] of Object.entries(signed.headers)) if (name.toLowerCase() !== 'host') outgoing.set(name, value);
    return new Request(request.url, { method: request.method, headers: outgoing, ...(body === undefined ? {} : { body }) });
  };
}
