// SDK unit tests: the typed event emitter the client's events go through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Emitter } from '../../../web-client/sdk/emitter.js';

test('listeners run in the order they were added, with the payload', () => {
  const e = new Emitter();
  const calls = [];
  e.on('a', (p) => calls.push(['first', p]));
  e.on('a', (p) => calls.push(['second', p]));
  e.on('b', (p) => calls.push(['other', p]));
  e.emit('a', 1);
  assert.deepEqual(calls, [['first', 1], ['second', 1]]);
});

test('the function on() returns removes exactly that listener', () => {
  const e = new Emitter();
  const calls = [];
  const off = e.on('a', () => calls.push('x'));
  e.on('a', () => calls.push('y'));
  off();
  e.emit('a', null);
  assert.deepEqual(calls, ['y']);
  assert.equal(e.listenerCount('a'), 1);
});

test('off() with a listener that was never added changes nothing', () => {
  const e = new Emitter();
  e.on('a', () => {});
  e.off('a', () => {});
  e.off('nothing', () => {});
  assert.equal(e.listenerCount('a'), 1);
});

test('once() fires a single time, and can be cancelled before it fires', () => {
  const e = new Emitter();
  let n = 0;
  e.once('a', () => n++);
  e.emit('a', null);
  e.emit('a', null);
  assert.equal(n, 1);
  assert.equal(e.listenerCount('a'), 0);
  const cancel = e.once('a', () => n++);
  cancel();
  e.emit('a', null);
  assert.equal(n, 1);
});

test('a throwing listener is reported and does not stop the others', () => {
  const reported = [];
  const e = new Emitter((name, err) => reported.push([name, err.message]));
  const calls = [];
  e.on('a', () => { throw new Error('boom'); });
  e.on('a', () => calls.push('after'));
  e.emit('a', null);
  assert.deepEqual(calls, ['after']);
  assert.deepEqual(reported, [['a', 'boom']]);
});

test('listeners added or removed during an emit take effect from the next emit', () => {
  const e = new Emitter();
  const calls = [];
  const offB = e.on('a', () => {
    calls.push('a1');
    e.on('a', () => calls.push('late'));
    offC();
  });
  const offC = e.on('a', () => calls.push('c'));
  e.emit('a', null);
  assert.deepEqual(calls, ['a1', 'c'], 'this emit still calls the listeners it started with');
  calls.length = 0;
  offB();
  e.emit('a', null);
  assert.deepEqual(calls, ['late']);
});

test('the same function added twice is called once', () => {
  const e = new Emitter();
  let n = 0;
  const fn = () => n++;
  e.on('a', fn);
  e.on('a', fn);
  e.emit('a', null);
  assert.equal(n, 1);
});
