// The payload bucket: run inputs and task outputs over the inline limit, one object each under
// `runs/<runId>/` (shared/engine/payloads.ts). Private, encrypted, TLS only; objects expire with
// the run's items (the retention plus the 30 days a run may last), so nothing outlives its run.
// `grantPayloads` is the only way a function gets it: object reads and writes under `runs/`, and
// PAYLOAD_BUCKET, together.

import { Duration, Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ENV, TIMINGS } from '../../shared/config/settings.js';

/** Where the engine's objects live in the bucket, and all that functions may touch. */
const PAYLOAD_PREFIX = 'runs/';
/** The longest a run may last (its deadline's maximum), added to the retention as for task items. */
const LONGEST_RUN_DAYS = 30;

export interface EnginePayloadsProps {
  readonly removalPolicy: RemovalPolicy;
}

export class EnginePayloads extends Construct {
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: EnginePayloadsProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: false,
      lifecycleRules: [
        { id: 'ExpireWithRuns', prefix: PAYLOAD_PREFIX, expiration: Duration.days(TIMINGS.retentionDays + LONGEST_RUN_DAYS) },
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions::AwsSolutions-S1',
      reason:
        'Objects are engine-internal copies of run inputs and task outputs, written and read only by the engine\'s functions ' +
        '(whose requests CloudTrail data events can record); server access logs would add a second bucket for no reader.',
    });
  }

  /** Object reads and writes under `runs/`, and PAYLOAD_BUCKET: the two never apart. */
  grantPayloads(fn: lambda.Function): iam.Grant {
    fn.addEnvironment(ENV.payloadBucket, this.bucket.bucketName);
    const grant = iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['s3:GetObject', 's3:PutObject'],
      resourceArns: [this.bucket.arnForObjects(`${PAYLOAD_PREFIX}*`)],
    });
    if (fn.role !== undefined) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/${PAYLOAD_PREFIX}*]`,
        reason: 'Payload objects are named per run and task as they are written; the grant is scoped to the engine bucket\'s runs/ prefix, get and put only.',
      });
    }
    return grant;
  }
}
