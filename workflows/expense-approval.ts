// The expense_approval example: a callback task. Its request hands a token to an approver's
// system (any URL in the run input: locally a listener on 127.0.0.1), the run waits without
// holding a worker, and the approver's answer, `POST /callbacks/{token}`, is the task's output.
// No answer within a day fails the task with CallbackTimedOut. No handlers: pass and callback
// tasks need none.
import { workflow } from 'dagflow';

export const expenseApproval = workflow('expense_approval', { description: 'An expense waits for an approver to answer POST /callbacks/{token}' })
  .task('record_expense', { type: 'pass' })
  .task('ask_approver', {
    type: 'callback',
    dependsOn: ['record_expense'],
    timeoutSeconds: 86_400,
    http: {
      url: '{{input.approverUrl}}',
      method: 'POST',
      body: { expense: '{{input.expenseId}}', amount: '{{input.amount}}', token: '{{callback.token}}' },
    },
  })
  .task('pay_expense', {
    type: 'pass',
    dependsOn: ['ask_approver'],
    when: { path: 'upstream.ask_approver.output.approved', op: 'eq', value: true },
  });
