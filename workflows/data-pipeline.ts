// The data_pipeline example: extract, a fan-out of one transform task per partition, a fan-in
// load and a final aggregate. A transform whose partition does not exist (the input brought
// fewer) is SKIPPED by its `when`, and load's `none_failed` join rule lets it run anyway.
// Handlers: pipeline-handlers.ts.
import { workflow } from 'dagflow';
import { PIPELINE_PARTITIONS, transformTaskId } from './pipeline-handlers.js';

const transforms = Array.from({ length: PIPELINE_PARTITIONS }, (_, index) => index);

export const dataPipeline = workflow('data_pipeline', {
  description: 'Extract, transform partitions in parallel, load, aggregate.',
}).task('extract', { handler: 'extract', retry: { maxRetries: 2 } });

for (const index of transforms) {
  dataPipeline.task(transformTaskId(index), {
    handler: 'transform_partition',
    dependsOn: ['extract'],
    when: { path: `upstream.extract.output.partitions.${index}`, op: 'exists' },
    retry: { maxRetries: 2 },
    timeoutSeconds: 60,
  });
}

dataPipeline
  .task('load', { handler: 'load', dependsOn: transforms.map(transformTaskId), trigger: 'none_failed' })
  .task('aggregate', { handler: 'aggregate', dependsOn: ['load'] });
