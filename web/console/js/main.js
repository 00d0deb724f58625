// The console's entry point: sign-in, the live connection (roomcast-client),
// and the two screens — the rooms list (#/rooms) and one room (#/room/<id>).
// The URL holds only the room id; secrets live in the Session object, in memory.

import { Roomcast, RoomcastError } from '/dashboard/client/index.js';
import { $, ROOM_ID, show, text } from './dom.js';
import { toast } from './feedback.js';
import { RoomView } from './room.js';
import { RoomsView } from './rooms.js';
import { Session } from './session.js';
import { refusal } from './words.js';

/** How long the first connection may take before sign-in is called failed, ms. */
const CONNECT_TIMEOUT_MS = 10_000;

/** @type {{session: Session, client: any, rooms: RoomsView, room: RoomView | null, expiryTimer?: any} | null} */
let app = null;

// ---------------------------------------------------------------------------
// Sign-in

const form = /** @type {HTMLFormElement} */ ($('signin-form'));

/** Show the field of the chosen sign-in mode. */
function syncMode() {
  const mode = /** @type {RadioNodeList} */ (form.elements.namedItem('mode')).value;
  for (const el of form.querySelectorAll('[data-mode]')) show(/** @type {HTMLElement} */ (el), /** @type {HTMLElement} */ (el).dataset.mode === mode);
}
form.addEventListener('change', syncMode);

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = $('signin-error');
  show(err, false);
  const button = /** @type {HTMLButtonElement} */ ($('signin-submit'));
  button.disabled = true;
  text(button, 'Signing in…');
  try {
    await signIn();
  } catch (e) {
    const why = e?.status === 404
      ? 'this server cannot mint tokens (no POST /api/tokens), so the API key cannot open a live connection'
      : e?.code ? refusal(e) : e?.message ?? e;
    text(err, `Could not sign in: ${why}`);
    show(err, true);
    err.focus?.();
  } finally {
    button.disabled = false;
    text(button, 'Sign in');
  }
});

async function signIn() {
  const mode = /** @type {RadioNodeList} */ (form.elements.namedItem('mode')).value;
  const keyInput = /** @type {HTMLInputElement} */ ($('signin-key'));
  const jwtInput = /** @type {HTMLTextAreaElement} */ ($('signin-jwt'));
  let session;
  if (mode === 'key') {
    const key = keyInput.value.trim();
    if (!key) throw new Error('enter the API key');
    const name = /** @type {HTMLInputElement} */ ($('signin-name')).value.trim() || 'staff';
    session = await Session.withKey(key, name);
  } else {
    const jwt = jwtInput.value.trim();
    if (!jwt) throw new Error('paste your moderator token');
    session = Session.withJwt(jwt);
  }
  const client = new Roomcast({ url: '/ws', getToken: () => tokenFor(session) });
  await connected(client);
  // Signed in: the secrets leave the form (they are never shown again).
  keyInput.value = '';
  jwtInput.value = '';
  start(session, client);
}

/**
 * The live connection's token (roomcast-client's `getToken`). An expired JWT or a
 * refused API key is an error (never null, which would connect anonymously).
 * @param {Session} session
 */
async function tokenFor(session) {
  if (session.expired()) throw new RoomcastError('token_expired', 'your moderator token has expired');
  try {
    return await session.wsToken();
  } catch (e) {
    throw new RoomcastError(e?.code ?? 'internal', e?.message ?? String(e));
  }
}

/**
 * Connect and wait for `welcome`. A refused upgrade (bad token) shows in a browser
 * as a failed attempt: the first one fails the sign-in instead of retrying forever.
 * @param {any} client
 */
function connected(client) {
  return new Promise((resolve, reject) => {
    const fail = (/** @type {string} */ why) => {
      cleanup();
      client.close();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail('the server did not answer in time'), CONNECT_TIMEOUT_MS);
    const onState = (/** @type {any} */ s) => {
      if (s.state === 'connected') {
        cleanup();
        resolve(undefined);
      } else if (s.state === 'disconnected' || s.state === 'closed') {
        fail('the server refused the connection (a wrong, expired or foreign token, or the server is down)');
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('state', onState);
    };
    client.on('state', onState);
    client.connect();
  });
}

// ---------------------------------------------------------------------------
// Signed in

/** @param {Session} session @param {any} client */
function start(session, client) {
  app = { session, client, rooms: new RoomsView({ session, client }), room: null };
  const who = session.mode === 'key' ? `${client.user?.id ?? session.name} · API key` : `${session.name} · moderator`;
  text($('who-name'), who);
  show($('who'), true);
  client.on('state', onConnState);
  client.on('error', onClientError);
  onConnState({ state: client.state });
  // A moderator JWT cannot be renewed by the console: say so a minute before it ends.
  const left = session.expiresAt() - Date.now();
  if (Number.isFinite(left) && left < 2 ** 31 - 1) {
    app.expiryTimer = setTimeout(() => toast('Your moderator token expires in a minute: sign in again with a new one.', 'info'), Math.max(0, left - 60_000));
  }
  route();
}

/** @param {{state: string}} s */
function onConnState(s) {
  const pill = $('conn');
  pill.dataset.state = s.state;
  text(pill, { connected: 'connected', connecting: 'connecting…', disconnected: 'reconnecting…', closed: 'offline' }[s.state] ?? s.state);
}

/** Errors of the connection itself (token expiry, a refused refresh). @param {any} err */
function onClientError(err) {
  if (!app) return;
  if (err.code === 'token_expired' || err.code === 'unauthorized') {
    signOut(app.session.mode === 'jwt'
      ? 'Your moderator token expired or was refused: sign in again.'
      : 'The API key was refused: sign in again.');
  } else {
    toast(`Connection: ${refusal(err)}`, 'error');
  }
}

/** @param {string} [why] */
function signOut(why) {
  if (app) {
    clearTimeout(app.expiryTimer);
    app.room?.close();
    app.rooms.destroy();
    app.client.off('state', onConnState);
    app.client.off('error', onClientError);
    app.client.close();
    app.session.forget();
    app = null;
  }
  show($('who'), false);
  if (why) toast(why, 'info');
  if (location.hash) history.replaceState(null, '', location.pathname);
  route();
}
$('sign-out').addEventListener('click', () => signOut());

// ---------------------------------------------------------------------------
// Screens

function route() {
  const views = { signin: $('signin-view'), rooms: $('rooms-view'), room: $('room-view') };
  /** @param {'signin' | 'rooms' | 'room'} name */
  const only = (name) => {
    for (const [k, el] of Object.entries(views)) show(el, k === name);
  };
  if (!app) {
    only('signin');
    syncMode();
    return;
  }
  const m = /^#\/room\/(.+)$/.exec(location.hash);
  const id = m ? safeDecode(m[1]) : null;
  if (app.room && app.room.roomId !== id) {
    app.room.close();
    app.room = null;
  }
  if (id !== null && ROOM_ID.test(id)) {
    app.rooms.hide();
    only('room');
    if (!app.room) {
      app.room = new RoomView({ session: app.session, client: app.client, roomId: id, keepJoined: app.rooms.keeps(id) });
      app.room.open();
      $('main').focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
    return;
  }
  if (location.hash !== '#/rooms') history.replaceState(null, '', '#/rooms');
  only('rooms');
  app.rooms.show();
}

/** @param {string} s */
function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

window.addEventListener('hashchange', route);

$('open-room').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('open-room-id'));
  const id = input.value.trim();
  if (!ROOM_ID.test(id)) {
    toast('A room id is 1–64 letters, digits and _ . : -', 'error');
    return;
  }
  input.value = '';
  location.hash = `#/room/${encodeURIComponent(id)}`;
});

route();
