// Compiled (never run) by test/types.test.js with `tsc --noEmit`: the declarations
// must describe the documented API, with no DOM or Node types needed. It imports
// the package by its own name, so the `exports` map is checked too.

import {
  Roomcast,
  RoomcastError,
  PROTOCOL_VERSION,
  backoffDelay,
  type ChatMessage,
  type JoinedEvent,
  type Room,
  type RoomSettings,
  type ServerFrame,
  type StateChange,
  type WebSocketConstructor,
} from 'roomcast-client';

declare const WS: WebSocketConstructor;

const client = new Roomcast({
  url: ['wss://a.example/ws', 'wss://b.example/ws'],
  getToken: async () => 'jwt',
  WebSocket: WS,
  minReconnectDelay: 500,
  maxReconnectDelay: 20000,
  requestTimeout: 10000,
  offlineQueueSize: 50,
  logger: { warn: () => {} },
});
new Roomcast({ url: ({ attempt }) => `wss://node-${attempt % 2}.example/ws` });
new Roomcast({ url: '/ws', getToken: () => null });

client.on('state', (e: StateChange) => {
  const s: 'connecting' | 'connected' | 'disconnected' | 'closed' = e.state;
  const code: number | null = e.code;
  void s;
  void code;
});
client.on('welcome', (w) => {
  const exp: number | undefined = w.expires_at;
  const anon: boolean = w.user.anonymous;
  void exp;
  void anon;
});
client.on('reconnect', (f) => void f.after_ms.toFixed());
client.on('notify', (n) => void n.data);
client.on('error', (err) => void err.code);
client.on('frame', (f: ServerFrame) => {
  if (f.type === 'message') void f.text.toUpperCase();
  if (f.type === 'stats') void f.messages_per_min;
});
// @ts-expect-error: not a client event
client.on('message', () => {});

client.connect();
await client.ready(5000);
const pong: { ts: number; rtt: number } = await client.ping();
void pong;

const room: Room = client.room('stream-42', { getRoomToken: async (id) => `room-token-for-${id}` });
room.on('message', (m: ChatMessage) => {
  const seq: number | undefined = m.seq;
  void seq;
});
room.on('joined', (e: JoinedEvent) => {
  const recovered: boolean | undefined = e.recovered;
  const rejoin: boolean = e.rejoin;
  void e.missed.length;
  void recovered;
  void rejoin;
});
room.on('discontinuity', (d) => {
  const r: 'gap' | 'recovery_failed' | 'no_recovery' = d.reason;
  void r;
});
room.on('left', (l) => {
  if (l.reason === 'banned') void room.banned;
});
room.on('viewers', (v) => void v.count);
room.on('reactions', (r) => void r.counts.heart);
room.on('deleted', (d) => void d.by);
room.on('moderation', (m) => void m.action);
room.on('slow_mode', (s) => void s.seconds);
room.on('event', (e) => void e.name);
room.on('settings', (s) => void s.settings.emote_only);
room.on('state', (s) => void s.key);
room.on('typing', (t) => void t.user);
room.on('pinned', (p) => void p.message?.id);
room.on('cleared', (c) => void c.by);
room.on('held_message', (h) => void h.term);
room.on('denied', (d) => void d.id);
room.on('warning', (w) => void w.reason);
room.on('stream', (s) => void s.summary?.unique_viewers);
room.on('milestone', (m) => void m.value);
room.on('stats', (s) => void s.unique_viewers);
room.on('error', (e: RoomcastError) => void e.retryAfterMs);
// @ts-expect-error: the payload of `viewers` has no `text`
room.on('viewers', (v) => void v.text);

const joined = await room.join();
void joined.recent[0]?.id;
const sent = await room.send('hello');
const id: string = sent.id;
const held: true | undefined = sent.held;
void id;
void held;
room.react('heart');
room.typing();
const older: ChatMessage[] = await room.history({ before: id, limit: 50 });
void older;
await room.delete(id);
await room.timeout('u2', 300, 'spam');
await room.ban('u2');
await room.unban('u2');
await room.setSlowMode(10);
const partial: Partial<RoomSettings> = { emote_only: true };
await room.updateSettings(partial);
await room.shadowBan('u3');
await room.warn('u4', 'be nice');
await room.clear();
await room.purge('u5');
await room.pin(id, 60);
await room.unpin();
await room.approve(id);
await room.deny(id);
await room.acknowledge();
await room.leave();

const viewers: number | null = room.viewers;
const settings: RoomSettings | null = room.settings;
const state: Map<string, unknown> = room.state;
const seq: number | null = room.seq;
const epoch: string | null = room.epoch;
const pinned = room.pinned?.until;
void [viewers, settings, state, seq, epoch, pinned];

try {
  await room.send('x');
} catch (err) {
  if (err instanceof RoomcastError && err.code === 'rate_limited') void err.retryAfterMs;
}

const v: 2 = PROTOCOL_VERSION;
const d: number = backoffDelay(3, 500, 20000);
void v;
void d;
client.close();
