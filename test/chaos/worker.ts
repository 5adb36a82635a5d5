// A worker process of the chaos suite: the engine's unchanged worker handler, polling the suite's
// queue, with the faults of its scenario injected into its own AWS clients, and (at a rate) every
// message it takes delivered twice: once more at once, concurrently, and once more later through
// the queue, as SQS's at-least-once delivery may. Killed and stalled by the suite at will.
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { wireEngine } from '../../lambdas/wiring.js';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { startSqsPoller } from '../../local/sqs-poller.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createSqsClient } from '../../shared/aws/sqs-queue.js';
import { createFaultInjector, faultProfileFromEnv, mulberry32 } from '../../shared/aws/fault-injection.js';
import { chaosHandlers } from './handlers.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} must be set`);
  return value;
};

const faults = createFaultInjector(faultProfileFromEnv());
const dynamo = createDocumentClient({ ...LOCAL_AWS, endpoint: env('DYNAMODB_ENDPOINT') });
const sqs = createSqsClient({ ...LOCAL_AWS, endpoint: env('SQS_ENDPOINT') });
faults.attach(dynamo);
faults.attach(sqs);
const queueUrl = env('TASK_QUEUE_URL');
const timings = JSON.parse(env('CHAOS_TIMINGS')) as Record<string, number>;

const engine = wireEngine({
  clients: { dynamo, sqs },
  tableName: env('TABLE_NAME'),
  taskQueueUrl: queueUrl,
  httpAllowedHosts: [],
  handlers: chaosHandlers(env('EFFECT_LOG')),
  logLevel: 'SILENT',
  cancelPollMs: 300,
  timings,
});

const duplicateRate = Number(process.env['DUPLICATE_RATE'] ?? '0');
const random = mulberry32(Number(process.env['CHAOS_SEED'] ?? '1') + process.pid);
// A second copy of a message the engine raced ahead of: sent without faults, a copy is a copy.
const plainSqs = new SQSClient({ ...LOCAL_AWS, endpoint: env('SQS_ENDPOINT') });
let duplicated = 0;

startSqsPoller({
  sqs,
  queueUrl,
  concurrency: 4,
  waitTimeSeconds: 1,
  onError: () => undefined,
  handler: async (event, context) => {
    if (duplicateRate === 0 || random() >= duplicateRate) return engine.workerHandler(event, context);
    duplicated += event.Records.length;
    for (const record of event.Records) {
      await plainSqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: record.body, DelaySeconds: Math.floor(random() * 3) }));
    }
    const [first, second] = await Promise.all([engine.workerHandler(event, context), engine.workerHandler(event, context)]);
    return { batchItemFailures: [...first.batchItemFailures, ...second.batchItemFailures] };
  },
});

// The faults it injected and the messages it duplicated, for the suite's report, written out every
// second and when stopped.
const report = () => process.stdout.write(`CHAOS ${JSON.stringify({ faults: faults.stats(), duplicated })}\n`);
setInterval(report, 1_000).unref();
process.on('SIGTERM', () => {
  report();
  process.exit(0);
});
console.log('worker ready');
