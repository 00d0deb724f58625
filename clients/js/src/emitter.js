/**
 * A tiny event emitter, the same shape in browsers and Node (no `events` import).
 *
 * A listener that throws must not break the client in the middle of handling a
 * frame (state would be half-updated), so errors are caught and re-thrown on a
 * fresh task: they still surface as uncaught errors, like any bug in app code.
 */
export class Emitter {
  /** @type {Map<string, Set<Function>>} */
  #listeners = new Map();

  /**
   * Add a listener.
   * @param {string} event
   * @param {Function} fn
   * @returns {this}
   */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  /**
   * Add a listener that runs at most once.
   * @param {string} event
   * @param {Function} fn
   * @returns {this}
   */
  once(event, fn) {
    const wrapper = (/** @type {any[]} */ ...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    wrapper.listener = fn;
    return this.on(event, wrapper);
  }

  /**
   * Remove a listener, every listener of `event` (no `fn`), or every listener (no args).
   * @param {string} [event]
   * @param {Function} [fn]
   * @returns {this}
   */
  off(event, fn) {
    if (event === undefined) {
      this.#listeners.clear();
      return this;
    }
    const set = this.#listeners.get(event);
    if (!set) return this;
    if (fn === undefined) {
      set.clear();
    } else {
      for (const l of set) {
        if (l === fn || /** @type {any} */ (l).listener === fn) set.delete(l);
      }
    }
    if (set.size === 0) this.#listeners.delete(event);
    return this;
  }

  /**
   * Number of listeners for `event`.
   * @param {string} event
   */
  listenerCount(event) {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /**
   * @param {string} event
   * @param {...any} args
   * @returns {boolean} whether anyone listened
   */
  emit(event, ...args) {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return false;
    // Copy: a listener may add or remove listeners while we iterate.
    for (const fn of [...set]) {
      try {
        fn.apply(this, args);
      } catch (err) {
        rethrowLater(err);
      }
    }
    return true;
  }
}

/** @param {unknown} err */
function rethrowLater(err) {
  const report = /** @type {any} */ (globalThis).reportError;
  if (typeof report === 'function') {
    report(err);
  } else {
    setTimeout(() => {
      throw err;
    }, 0);
  }
}
