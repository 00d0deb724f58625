// The moderator actions, each through the room's WebSocket frames
// (roomcast-client's Room methods), so the server's checks apply exactly as to
// any moderator. Actions that need a value ask for it first; every one reports
// back through `act()` (acked, or refused in words).

import { ask } from './ask.js';
import { act, toast } from './feedback.js';
import { isUnsupported } from './words.js';

/** Timeout lengths offered (seconds): 1 s – 14 days is what the server takes. @type {Array<[number, string]>} */
const TIMEOUTS = [
  [60, '1 minute'], [300, '5 minutes'], [600, '10 minutes'], [3600, '1 hour'],
  [86400, '1 day'], [604800, '1 week'], [1209600, '14 days'],
];
/** Pin lengths offered (seconds): 60–1800. @type {Array<[number, string]>} */
const PINS = [[60, '1 minute'], [120, '2 minutes'], [300, '5 minutes'], [600, '10 minutes'], [1800, '30 minutes']];

export class ModActions {
  /**
   * @param {import('/dashboard/client/index.js').Room} room
   * @param {{unsupported: (action: string) => void, done: (action: string) => void}} on
   *   unsupported: the server does not know an action; done: an action was acked
   */
  constructor(room, on) {
    this.room = room;
    this.on = on;
  }

  /**
   * Run one action and report; an action the server does not know is hidden from then on.
   * @param {string} action @param {string} label @param {() => Promise<any>} run
   */
  async #run(action, label, run) {
    let unsupported = false;
    const result = await act(label, run().catch((err) => {
      if (isUnsupported(err)) {
        unsupported = true;
        this.on.unsupported(action);
      }
      throw err;
    }));
    if (unsupported) toast(`${label}: this server does not offer it; the button is hidden now.`, 'info');
    if (result !== undefined) this.on.done(action);
    return result;
  }

  /** @param {{id: string, name: string}} m */
  delete(m) {
    return this.#run('delete', `Delete the message of ${m.name}`, () => this.room.delete(m.id));
  }

  /** @param {string} user @param {string} name */
  async timeout(user, name) {
    const v = await ask({
      title: `Time out ${name}`,
      text: 'They keep watching but cannot chat or react until it ends.',
      fields: [
        { name: 'seconds', label: 'For', type: 'select', options: TIMEOUTS, value: 600 },
        { name: 'reason', label: 'Reason (optional)', maxlength: 200 },
      ],
      ok: 'Time out',
    });
    if (!v) return;
    const seconds = Number(v.seconds);
    return this.#run('timeout', `Time out ${name}`, () => this.room.timeout(user, seconds, v.reason || undefined));
  }

  /** @param {string} user @param {string} name */
  async ban(user, name) {
    const v = await ask({
      title: `Ban ${name}`,
      text: 'They leave the room at once, cannot come back, and their messages leave the recent list.',
      fields: [{ name: 'reason', label: 'Reason (optional)', maxlength: 200 }],
      ok: 'Ban',
      danger: true,
    });
    if (!v) return;
    return this.#run('ban', `Ban ${name}`, () => this.room.ban(user, v.reason || undefined));
  }

  /** @param {string} user @param {string} name */
  unban(user, name) {
    return this.#run('unban', `Lift the ban, timeout and shadow ban of ${name}`, () => this.room.unban(user));
  }

  /** @param {string} user @param {string} name */
  async shadowBan(user, name) {
    const v = await ask({
      title: `Shadow-ban ${name}`,
      text: 'Their messages are shown to themselves and to moderators only. Unban lifts it.',
      ok: 'Shadow-ban',
      danger: true,
    });
    if (!v) return;
    return this.#run('shadow_ban', `Shadow-ban ${name}`, () => this.room.shadowBan(user));
  }

  /** @param {string} user @param {string} name */
  async warn(user, name) {
    const v = await ask({
      title: `Warn ${name}`,
      text: 'They cannot chat until they acknowledge the warning.',
      fields: [{ name: 'reason', label: 'Reason', maxlength: 200 }],
      ok: 'Warn',
    });
    if (!v) return;
    return this.#run('warn', `Warn ${name}`, () => this.room.warn(user, v.reason || undefined));
  }

  /** @param {string} user @param {string} name */
  async purge(user, name) {
    const v = await ask({ title: `Purge ${name}`, text: 'Delete their messages of the last 10 minutes.', ok: 'Purge', danger: true });
    if (!v) return;
    return this.#run('purge', `Purge the messages of ${name}`, () => this.room.purge(user));
  }

  /** @param {{id: string, name: string}} m */
  async pin(m) {
    const v = await ask({
      title: `Pin the message of ${m.name}`,
      fields: [{ name: 'seconds', label: 'For', type: 'select', options: PINS, value: 120 }],
      ok: 'Pin',
    });
    if (!v) return;
    return this.#run('pin', `Pin the message of ${m.name}`, () => this.room.pin(m.id, Number(v.seconds)));
  }

  unpin() {
    return this.#run('unpin', 'Unpin', () => this.room.unpin());
  }

  /** @param {{id: string, name: string}} m */
  approve(m) {
    return this.#run('approve', `Approve the message of ${m.name}`, () => this.room.approve(m.id));
  }

  /** @param {{id: string, name: string}} m */
  deny(m) {
    return this.#run('deny', `Deny the message of ${m.name}`, () => this.room.deny(m.id));
  }

  /** @param {Record<string, any>} partial @param {string} label */
  settings(partial, label) {
    return this.#run('settings', label, () => this.room.updateSettings(partial));
  }

  /** @param {number} seconds */
  slowMode(seconds) {
    return this.#run('slow_mode', seconds ? `Slow mode ${seconds} s` : 'Slow mode off', () => this.room.setSlowMode(seconds));
  }
}
