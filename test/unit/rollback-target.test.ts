/**
 * Which colour `bgswitch rollback` goes to. Regression (found by the lab fault matrix, CLI killed at
 * `pause`): after an interrupted switch the history still ended with the switch before it, so
 * `rollback` "went back" to the colour the interrupted switch was heading for and finished it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rollbackTarget } from '../../src/cli/rollback.js';
import type { HistoryEntry } from '../../src/core/history.js';
import type { OperationRecord } from '../../src/core/operation.js';

function entry(from: 'blue' | 'green', to: 'blue' | 'green', outcome: HistoryEntry['outcome'] = 'switched'): HistoryEntry {
  return {
    id: `${from}-${to}`,
    kind: 'switch',
    from,
    to,
    outcome,
    actor: 'dana@ops',
    startedAt: '',
    finishedAt: '',
    durationMs: 1,
    generation: 1,
    phases: [],
  };
}

function operation(kind: OperationRecord['kind'], from: 'blue' | 'green', to: 'blue' | 'green'): OperationRecord {
  return { id: 'op', kind, from, to, phase: 'pause', holder: 'dana@ops/1/x', actor: 'dana@ops', startedAt: '', updatedAt: '' };
}

test('no unfinished operation: back to the colour before the last completed switch', () => {
  assert.equal(rollbackTarget('blue', [entry('green', 'blue'), entry('blue', 'green')], undefined), 'green');
  assert.equal(rollbackTarget('green', [entry('green', 'blue', 'rolled-back'), entry('blue', 'green')], undefined), 'blue');
});

test('no usable history: the other colour than declared; nothing declared: refused', () => {
  assert.equal(rollbackTarget('green', [], undefined), 'blue');
  assert.throws(() => rollbackTarget(undefined, [], undefined), /nothing to roll back/);
});

test('an interrupted switch blue -> green is undone (blue), although the history ends with green -> blue', () => {
  assert.equal(rollbackTarget('blue', [entry('green', 'blue')], operation('switch', 'blue', 'green')), 'blue');
});

test('an interrupted switch killed after recording active: green is still undone (blue)', () => {
  assert.equal(rollbackTarget('green', [entry('blue', 'green'), entry('green', 'blue')], operation('switch', 'blue', 'green')), 'blue');
});

test('an interrupted rollback green -> blue is retried (blue), not reversed', () => {
  assert.equal(rollbackTarget('green', [entry('blue', 'green')], operation('rollback', 'green', 'blue')), 'blue');
});
