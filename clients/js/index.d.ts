// Type declarations for roomcast-client (wire contract v2).
// Every server frame of the contract has a type here, including the v2 frames a
// server may not send yet; fields a v1 server leaves out are optional.

// ---------------------------------------------------------------------------
// Errors

/** Error codes of the server (contract §2 and §10). */
export type ServerErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_joined'
  | 'banned'
  | 'timed_out'
  | 'rate_limited'
  | 'slow_mode'
  | 'too_long'
  | 'too_many_rooms'
  | 'internal'
  | 'too_many_connections'
  | 'room_limit'
  | 'token_expired'
  | 'followers_only'
  | 'subscribers_only'
  | 'emote_only'
  | 'duplicate'
  | 'blocked_term'
  | 'warned';

/**
 * Codes the client itself produces:
 * - `timeout`: no reply within the request timeout (or a buffered message not sent within `offlineTimeout`);
 * - `disconnected`: not connected, or the connection dropped before the reply;
 * - `buffer_full`: the offline buffer is full;
 * - `too_large`: the frame would exceed `maxFrameBytes` (the server would close the connection);
 * - `invalid`: bad arguments, e.g. a malformed room id.
 */
export type ClientErrorCode = 'timeout' | 'disconnected' | 'buffer_full' | 'too_large' | 'invalid';

/** Any error code; unknown future server codes pass through as strings. */
export type ErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

export class RoomcastError extends Error {
  constructor(code: ErrorCode, message: string, extra?: { retryAfterMs?: number; ref?: string; room?: string; cause?: unknown });
  readonly name: 'RoomcastError';
  code: ErrorCode;
  /** Milliseconds until a retry can succeed (`rate_limited`, `slow_mode`, `timed_out`). */
  retryAfterMs: number | undefined;
  /** The request's ref, when the error answers one. */
  ref: string | undefined;
  /** The room the refused request named. */
  room: string | undefined;
  static fromFrame(frame: ErrorFrame): RoomcastError;
}

// ---------------------------------------------------------------------------
// Server → client frames

export interface WelcomeUser {
  id: string;
  name: string;
  anonymous: boolean;
  /** Room ids this user moderates; `["*"]` = every room. */
  mod: string[];
}

export interface WelcomeFrame {
  type: 'welcome';
  user: WelcomeUser;
  node: string;
  heartbeat_ms: number;
  /** Token expiry in ms (§6, v2); absent for anonymous viewers and on v1 servers. */
  expires_at?: number;
}

export interface ChatMessage {
  type: 'message';
  room: string;
  /** 26-character ULID, time-sortable. */
  id: string;
  user: string;
  name: string;
  text: string;
  /** Epoch ms. */
  ts: number;
  badges: string[];
  /** Per-room sequence number (§5, v2). Absent on delayed, held and shadow copies. */
  seq?: number;
  /** A moderator's early copy of a delayed message (§7); the published copy follows with the same id. */
  delayed?: boolean;
  /** A shadow-banned user's message, as moderators (and the user) see it (§7). */
  shadow?: boolean;
}

/** The room settings of §7. */
export interface RoomSettings {
  slow_mode: number;
  followers_only: number | null;
  subscribers_only: boolean;
  emote_only: boolean;
  unique_chat: boolean;
  chat_delay_ms: number;
  private: boolean;
  /**
   * Whether `typing` frames are relayed (§8): `null` (the default) while the
   * room has at most 100 viewers, `true`/`false` always/never.
   */
  typing?: boolean | null;
  [setting: string]: unknown;
}

export interface Pin {
  message: ChatMessage;
  /** Epoch ms. */
  until: number;
}

export interface JoinedFrame {
  type: 'joined';
  room: string;
  viewers: number;
  slow_mode: number;
  /** The last ≤ 50 messages, oldest first; with `recovered: true`, every message after `since.seq`. */
  recent: ChatMessage[];
  /** The room's latest seq (§5, v2). */
  seq?: number;
  /** The room's sequence epoch (§5, v2). */
  epoch?: string;
  /** Present when the join carried `since` (§5, v2). */
  recovered?: boolean;
  settings?: RoomSettings;
  /** Room state, key → value (§8, v2). */
  state?: Record<string, unknown>;
  /** The live pin (§7, v2). */
  pinned?: Pin;
}

/** The `joined` event: the frame plus what the client worked out. */
export interface JoinedEvent extends JoinedFrame {
  /** false for the first join of this room object, true for every re-join after a reconnect. */
  rejoin: boolean;
  /** On a re-join: the messages of `recent` not seen before; each is also emitted as a `message` event. */
  missed: ChatMessage[];
}

export type LeftReason = 'leave' | 'banned' | 'shutdown';

export interface LeftFrame {
  type: 'left';
  room: string;
  reason: LeftReason;
}

export interface AckFrame {
  type: 'ack';
  ref?: string;
  id: string;
  /** Not in the contract; honoured if a server adds it to a refresh's ack. */
  expires_at?: number;
}

/** AutoMod held the sender's message (§7). */
export interface HeldFrame {
  type: 'held';
  ref?: string;
  id: string;
}

export type Emoji = 'heart' | 'fire' | 'laugh' | 'wow' | 'clap' | 'like';

export interface ReactionsFrame {
  type: 'reactions';
  room: string;
  counts: Partial<Record<Emoji, number>> & Record<string, number>;
}

export interface ViewersFrame {
  type: 'viewers';
  room: string;
  count: number;
}

export interface DeletedFrame {
  type: 'deleted';
  room: string;
  id: string;
  by: string;
}

export type ModerationAction =
  | 'ban'
  | 'timeout'
  | 'unban'
  | 'delete'
  | 'slow_mode'
  | 'settings'
  | 'hold'
  | 'approve'
  | 'deny'
  | 'shadow_ban'
  | 'warn'
  | 'clear'
  | 'purge'
  | 'pin'
  | 'unpin'
  | 'mod_add'
  | 'mod_remove';

export interface ModerationFrame {
  type: 'moderation';
  room: string;
  action: ModerationAction | (string & {});
  user: string;
  seconds?: number;
  reason?: string;
  by: string;
}

export interface SlowModeFrame {
  type: 'slow_mode';
  room: string;
  seconds: number;
}

export interface EventFrame {
  type: 'event';
  room: string;
  name: string;
  data: Record<string, unknown>;
}

export interface HistoryFrame {
  type: 'history';
  ref?: string;
  room: string;
  messages: ChatMessage[];
}

export interface PongFrame {
  type: 'pong';
  ref?: string;
  ts: number;
}

export interface ErrorFrame {
  type: 'error';
  ref?: string;
  room?: string;
  code: ServerErrorCode | (string & {});
  message: string;
  retry_after_ms?: number;
}

export interface ReconnectFrame {
  type: 'reconnect';
  after_ms: number;
}

export interface SettingsFrame {
  type: 'settings';
  room: string;
  settings: RoomSettings;
}

/** To moderators: a message AutoMod holds for review (§7). */
export interface HeldMessageFrame {
  type: 'held_message';
  room: string;
  /** The message frame, without `seq`; its id is the one the sender got in `held`. */
  message: ChatMessage;
  /** The pattern as configured. */
  term: string;
}

/** To the sender: a held message was denied or expired (§7). */
export interface DeniedFrame {
  type: 'denied';
  room: string;
  id: string;
}

export interface WarningFrame {
  type: 'warning';
  room: string;
  reason?: string;
  by: string;
}

export interface ClearedFrame {
  type: 'cleared';
  room: string;
  by: string;
}

export interface PinnedFrame {
  type: 'pinned';
  room: string;
  message: ChatMessage | null;
  until: number;
}

export interface StateFrame {
  type: 'state';
  room: string;
  key: string;
  /** null when the key was deleted. */
  data: unknown;
}

export interface StreamSummary {
  duration_s: number;
  peak: number;
  unique_viewers: number;
  messages: number;
  reactions: number;
}

export interface StreamFrame {
  type: 'stream';
  room: string;
  status: 'live' | 'ended';
  title?: string;
  started_at?: number;
  summary?: StreamSummary;
}

export interface MilestoneFrame {
  type: 'milestone';
  room: string;
  kind: 'viewers' | (string & {});
  value: number;
}

export interface StatsFrame {
  type: 'stats';
  room: string;
  viewers: number;
  peak: number;
  unique_viewers: number;
  messages_per_min: number;
  reactions_per_min: number;
}

export interface TypingFrame {
  type: 'typing';
  room: string;
  user: string;
  name: string;
}

export interface NotifyFrame {
  type: 'notify';
  name: string;
  data: Record<string, unknown>;
  ts: number;
}

export type ServerFrame =
  | WelcomeFrame
  | JoinedFrame
  | LeftFrame
  | ChatMessage
  | AckFrame
  | HeldFrame
  | ReactionsFrame
  | ViewersFrame
  | DeletedFrame
  | ModerationFrame
  | SlowModeFrame
  | EventFrame
  | HistoryFrame
  | PongFrame
  | ErrorFrame
  | ReconnectFrame
  | SettingsFrame
  | HeldMessageFrame
  | DeniedFrame
  | WarningFrame
  | ClearedFrame
  | PinnedFrame
  | StateFrame
  | StreamFrame
  | MilestoneFrame
  | StatsFrame
  | TypingFrame
  | NotifyFrame;

// ---------------------------------------------------------------------------
// Events

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /**
   * Why: the WebSocket close code (1006 abnormal, 1012 restart, 4001 token expired,
   * 4000 given up by the client: heartbeat or connect timeout), the HTTP status of a
   * refused upgrade when the WebSocket implementation shows it (401 in Node), or null
   * for `connecting`/`connected`.
   */
  code: number | null;
  reason: string;
  /** Set when the client stopped for good (`closed` after repeated 401, 1008 bad frames). */
  error?: RoomcastError;
}

export interface Discontinuity {
  room: string;
  /**
   * - `gap`: a live message's seq jumped (messages in between were not delivered);
   * - `recovery_failed`: the re-join's `since` was refused (`recovered: false`: epoch changed or too much missed);
   * - `no_recovery`: a re-join without recovery (v1 server) whose `recent` cannot prove nothing was missed.
   */
  reason: 'gap' | 'recovery_failed' | 'no_recovery';
  /** The seq the client had before. */
  lastSeq: number | null;
  /** The newest message id the client had before (re-joins only). */
  lastId: string | null;
  /** The seq now. */
  seq: number | null;
  epoch: string | null;
}

export interface ClientEvents {
  state: StateChange;
  welcome: WelcomeFrame;
  /** The server asked to reconnect (it is draining); the client does so after `after_ms`. */
  reconnect: ReconnectFrame;
  notify: NotifyFrame;
  /** The token was refreshed in place (§6). */
  refresh: { expiresAt: number | null };
  /** Errors not tied to a request or a room (token_expired, refresh refused, getToken failures, 401s). */
  error: RoomcastError;
  /** Every frame received, before it is handled (debugging, tooling). */
  frame: ServerFrame;
}

export interface RoomEvents {
  message: ChatMessage;
  joined: JoinedEvent;
  left: LeftFrame;
  viewers: ViewersFrame;
  reactions: ReactionsFrame;
  deleted: DeletedFrame;
  moderation: ModerationFrame;
  slow_mode: SlowModeFrame;
  event: EventFrame;
  settings: SettingsFrame;
  state: StateFrame;
  typing: TypingFrame;
  pinned: PinnedFrame;
  cleared: ClearedFrame;
  held_message: HeldMessageFrame;
  denied: DeniedFrame;
  warning: WarningFrame;
  stream: StreamFrame;
  milestone: MilestoneFrame;
  stats: StatsFrame;
  discontinuity: Discontinuity;
  /** A refusal not tied to a pending request: a reaction, a re-join, an unmatched error. */
  error: RoomcastError;
}

export class Emitter<Events extends object = Record<string, unknown>> {
  on<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this;
  once<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): this;
  off<K extends keyof Events & string>(event?: K, listener?: (payload: Events[K]) => void): this;
  emit<K extends keyof Events & string>(event: K, payload: Events[K]): boolean;
  listenerCount(event: keyof Events & string): number;
}

// ---------------------------------------------------------------------------
// Client

/** What the client needs of a WebSocket (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface Logger {
  debug?(...args: unknown[]): void;
  info?(...args: unknown[]): void;
  warn?(...args: unknown[]): void;
  error?(...args: unknown[]): void;
}

export type UrlOption = string | string[] | ((info: { attempt: number }) => string | Promise<string>);

export interface RoomcastOptions {
  /**
   * The `/ws` URL (`ws(s)://`, `http(s)://` or relative to the page), a list rotated
   * through on every reconnect, or a function called before every attempt
   * (`attempt` = failed attempts in a row).
   */
  url: UrlOption;
  /**
   * The user's JWT, or null for an anonymous viewer. Called before a connection when
   * there is no fresh token, after a refused upgrade, after 4001, and before expiry to
   * refresh in place. The cached token is reused while it has more than 10 s left.
   */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Default `globalThis.WebSocket`; in Node 20 pass the `ws` package's `WebSocket`. */
  WebSocket?: WebSocketConstructor | (new (url: string) => unknown);
  /** Backoff floor in ms (default 500): the first retry waits 0–500 ms. */
  minReconnectDelay?: number;
  /** Backoff ceiling in ms (default 20 000). */
  maxReconnectDelay?: number;
  /** Reply timeout of every request in ms (default 10 000). */
  requestTimeout?: number;
  /** Time allowed from opening a socket to `welcome` in ms (default 10 000). */
  connectTimeout?: number;
  /** How long to wait for the `pong` of a heartbeat ping in ms (default 10 000). */
  pongTimeout?: number;
  /** Chat messages kept while disconnected (default 50); 0 = reject at once with `disconnected`. */
  offlineQueueSize?: number;
  /** How long a buffered message may wait for the connection, in ms (default 30 000). */
  offlineTimeout?: number;
  /** Consecutive HTTP 401s before the client stops (default 3). */
  maxUnauthorized?: number;
  /** Largest frame the client sends, in bytes (default 4096, the server's limit). */
  maxFrameBytes?: number;
  /** Message ids remembered per room for de-duplication (default 1000). */
  dedupSize?: number;
  /** Where diagnostics go (default: nowhere). */
  logger?: Logger;
}

export interface RoomOptions {
  /** A room token (§7) for each join: roles, private rooms. Called before every (re-)join. */
  getRoomToken?: (room: string) => string | null | undefined | Promise<string | null | undefined>;
}

export class Roomcast extends Emitter<ClientEvents> {
  constructor(options: RoomcastOptions);
  readonly state: ConnectionState;
  /** Every room object made by `room()`, by id (a copy). */
  readonly rooms: Map<string, Room>;
  /** `welcome.user` of the current (or last) connection. */
  user: WelcomeUser | null;
  /** `welcome.node`. */
  node: string | null;
  /** Token expiry in ms, updated by refreshes; null without one. */
  expiresAt: number | null;
  heartbeatMs: number | null;
  /** Start connecting; keep reconnecting until `close()`. */
  connect(): void;
  /** Close and stop reconnecting; rooms stay wanted, so `connect()` re-joins them. */
  disconnect(): void;
  /** Alias of `disconnect()`. */
  close(): void;
  /** Drop the connection and connect again at once with a new token (e.g. after login). */
  reconnect(): void;
  /** Resolves when connected; rejects on timeout or when the client closes for good. */
  ready(timeoutMs?: number): Promise<void>;
  /** The room object for `id` (one per id). Throws `invalid` for a malformed id. */
  room(id: string, options?: RoomOptions): Room;
  ping(): Promise<{ ts: number; rtt: number }>;
}

export type RoomStatus = 'left' | 'joining' | 'joined';

export interface SendResult {
  id: string;
  /** true when AutoMod held the message for review (§7); it is published if a moderator approves. */
  held?: true;
}

export interface ModResult {
  /** The message id for `delete`, otherwise the moderation-log id. */
  id?: string;
}

export class Room extends Emitter<RoomEvents> {
  private constructor();
  readonly id: string;
  readonly status: RoomStatus;
  readonly joined: boolean;
  /** The live pin, or null (also once `until` has passed). */
  readonly pinned: Pin | null;
  viewers: number | null;
  /** Slow mode in seconds, 0 = off. */
  slowMode: number;
  /** Room settings (§7); null until the server sends them. */
  settings: RoomSettings | null;
  /** Room state (§8), key → value; the same Map object for the room's lifetime. */
  readonly state: Map<string, unknown>;
  /** Latest seq seen (§5). */
  seq: number | null;
  epoch: string | null;
  /** The last join's `recovered`; null when not asked or not supported. */
  recovered: boolean | null;
  /** Removed by a ban; the client does not re-join. `join()` clears it. */
  banned: boolean;

  /** Join and stay joined across reconnects. Waits for the connection if needed. */
  join(): Promise<JoinedEvent>;
  leave(): Promise<void>;
  /** Resolves on `ack` (or `held`); buffered while disconnected (see `offlineQueueSize`). */
  send(text: string): Promise<SendResult>;
  /** Fire and forget; false when not joined or not connected. Refusals come as `error` events. */
  react(emoji: Emoji | (string & {})): boolean;
  /** Throttled to once per 3 s; false when nothing was sent. */
  typing(): boolean;
  history(options?: { before?: string; limit?: number }): Promise<ChatMessage[]>;

  delete(id: string): Promise<ModResult>;
  timeout(user: string, seconds: number, reason?: string): Promise<ModResult>;
  ban(user: string, reason?: string): Promise<ModResult>;
  /** Lifts a ban, a timeout and a shadow ban. */
  unban(user: string): Promise<ModResult>;
  /** The `slow_mode` frame (0 = off). */
  setSlowMode(seconds: number): Promise<ModResult>;
  /** The `settings` frame: a partial update (§7). */
  updateSettings(settings: Partial<RoomSettings>): Promise<ModResult>;
  shadowBan(user: string): Promise<ModResult>;
  warn(user: string, reason?: string): Promise<ModResult>;
  clear(): Promise<ModResult>;
  purge(user: string): Promise<ModResult>;
  /** Pin a message for 60–1800 s. */
  pin(id: string, seconds: number): Promise<ModResult>;
  unpin(): Promise<ModResult>;
  approve(id: string): Promise<ModResult>;
  deny(id: string): Promise<ModResult>;
  /** Acknowledge a `warning` so this user may chat again. */
  acknowledge(): Promise<ModResult>;
}

/** Full-jitter exponential backoff: a uniform delay in [0, min(max, min·2^attempt)). */
export function backoffDelay(attempt: number, min: number, max: number, random?: () => number): number;

/** The contract version this client speaks. */
export const PROTOCOL_VERSION: 2;
