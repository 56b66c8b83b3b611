// The staff console: plain JavaScript over the staff API (/api/v1/staff/)
// and its server-sent events stream. No framework, no build step.
//
// Rules this file keeps:
// - Patient data is only ever put in the DOM with textContent, never as HTML.
// - No patient data in the URL (views are #today, #flags, …) or in storage;
//   only the chosen clinic id and the sound preference are remembered.
// - Lists are reconciled by id, so a live update never throws away a note
//   being typed or the keyboard focus.
'use strict';

(() => {
  const API = '/api/v1/staff';
  // Every state-changing staff request must carry this header (CSRF rule).
  const HEADERS = { 'X-Requested-With': 'checkin-console', Accept: 'application/json' };
  const VIEWS = ['today', 'flags', 'changes', 'copays', 'kiosks'];
  const VIEW_TITLES = {
    today: 'Today',
    flags: 'Flags',
    changes: 'Proposed changes',
    copays: 'Co-pays',
    kiosks: 'Kiosks',
  };
  const NEW_FLAG_MS = 60_000;
  const KIOSK_REFRESH_MS = 30_000;
  const APPOINTMENT_REFRESH_MS = 120_000;

  // Reason codes and steps in plain words, for the front desk. The words
  // come from the clinic server with the signed-in user (GET /me), so the
  // console and the server share one wording.
  let REASONS = {};
  let STEPS = {};
  // What a form's result still asks of staff (GET /forms, `follow_up`).
  const FOLLOW_UPS = {
    phq9_not_completed: 'PHQ-9 not completed',
  };
  const STATES = {
    scheduled: 'Scheduled',
    arrived: 'Arrived',
    checked_in: 'Checked in',
    no_show: 'No-show',
    cancelled: 'Cancelled',
  };

  // Reason codes that need a clinician now: listed first, marked urgent.
  const URGENT = new Set(['screening_positive']);

  const $ = (id) => document.getElementById(id);

  const state = {
    // Bumped on every clinic switch; an answer for an older generation is
    // dropped, so one clinic's rows never land in another's lists.
    generation: 0,
    loginAlerts: new Set(),
    me: null,
    clinic: null,
    appointments: [],
    apptById: new Map(),
    apptStates: new Map(),
    formsByAppt: new Map(),
    flags: [],
    knownFlagIds: null,
    newFlagIds: new Map(),
    changes: [],
    copays: [],
    kiosks: [],
    kioskNames: new Map(),
    stream: null,
    streamUp: false,
    everConnected: false,
    reconnectTimer: null,
    reconnectDelay: 500,
    pending: new Set(),
    pendingTimer: null,
    timers: [],
    sound: localStorage.getItem('ck.sound') !== 'off',
    audio: null,
    lastFocus: null,
  };

  // ------------------------------------------------------------ helpers

  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { ...HEADERS } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (_) {
      throw new ApiError(0, 'network', 'Cannot reach the clinic server. Check the connection and try again.');
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    if (!res.ok) {
      const err = new ApiError(
        res.status,
        (data && data.error) || 'error',
        (data && data.message) || `The server answered ${res.status}.`,
        res.headers.get('Retry-After'),
      );
      if (res.status === 401 && state.me && path !== `${API}/login`) {
        signedOut('Your session has ended. Sign in again.');
      }
      throw err;
    }
    return data;
  }

  function clinicPath(rest) {
    return `${API}/clinics/${encodeURIComponent(state.clinic.id)}${rest}`;
  }

  // An answer that arrived after the clinic was switched.
  class StaleAnswer extends Error {}

  // GET a path of the current clinic; throws StaleAnswer if the clinic
  // changed while the request was in flight.
  async function clinicGet(rest) {
    const generation = state.generation;
    const data = await api('GET', clinicPath(rest));
    if (generation !== state.generation) throw new StaleAnswer('stale');
    return data;
  }

  // For timed and live refreshes: a stale answer is dropped quietly, a
  // lost session is handled by api(), anything else is shown.
  function refreshFailed(what) {
    return (err) => {
      if (err instanceof StaleAnswer || (err && err.status === 401)) return;
      showActionError(`The ${what} could not be refreshed: ${err.message}`);
    };
  }

  // Builds an element: el('td', {class: 'num'}, 'text', child, …).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // Keeps `container`'s children in step with `items`, by key: existing
  // nodes are updated in place, new ones created, gone ones removed.
  function reconcile(container, items, keyOf, create, update) {
    const existing = new Map();
    for (const node of [...container.children]) existing.set(node.dataset.key, node);
    const wanted = new Set(items.map(keyOf));
    for (const [k, node] of existing) if (!wanted.has(k)) node.remove();
    let prev = null;
    for (const item of items) {
      const k = keyOf(item);
      let node = existing.get(k);
      if (!node) {
        node = create(item);
        node.dataset.key = k;
      }
      update(node, item);
      const expected = prev ? prev.nextElementSibling : container.firstElementChild;
      if (node !== expected) container.insertBefore(node, expected);
      prev = node;
    }
  }

  let announceTimer = null;
  function announce(message) {
    const a = $('announcer');
    a.textContent = '';
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => {
      a.textContent = message;
    }, 60);
  }

  function showActionError(message) {
    setText($('action-error'), message || '');
  }

  function tz() {
    return (state.clinic && state.clinic.time_zone) || undefined;
  }

  function fmtTime(iso) {
    if (!iso) return '—';
    return new Intl.DateTimeFormat('en-US', { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: tz() }).format(new Date(iso));
  }

  function fmtDateTime(iso) {
    if (!iso) return '—';
    return new Intl.DateTimeFormat('en-US', {
      month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: tz(),
    }).format(new Date(iso));
  }

  function fmtDob(ymd) {
    const [y, m, d] = String(ymd).split('-');
    return y && m && d ? `${m}/${d}/${y}` : String(ymd);
  }

  function fmtMoney(cents, currency) {
    try {
      return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency || 'USD' }).format(cents / 100);
    } catch (_) {
      return `${(cents / 100).toFixed(2)} ${currency || ''}`.trim();
    }
  }

  function fmtDuration(secs) {
    const s = Math.max(0, Math.round(secs));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
    return `${Math.floor(h / 24)} days`;
  }

  function fmtSince(iso) {
    if (!iso) return 'never';
    const secs = (Date.now() - new Date(iso).getTime()) / 1000;
    if (secs < 45) return 'just now';
    return `${fmtDuration(secs)} ago`;
  }

  // A <time> that keeps saying how long ago it was.
  function sinceNode(iso) {
    const t = el('time', { class: 'since', datetime: iso || '', title: iso ? fmtDateTime(iso) : null });
    t.dataset.since = iso || '';
    t.textContent = fmtSince(iso);
    return t;
  }

  function refreshSince() {
    for (const t of document.querySelectorAll('time[data-since]')) {
      setText(t, fmtSince(t.dataset.since || null));
    }
  }

  function patientName(a) {
    return a ? `${a.first_name} ${a.last_name}` : null;
  }

  function apptLabel(a) {
    return a ? `${fmtTime(a.start)} with ${a.clinician}` : null;
  }

  function kioskName(id) {
    if (!id) return '—';
    if (id === 'demo-seed') return 'Demo data';
    return state.kioskNames.get(id) || id;
  }

  function fmtWait(secs) {
    const s = Number(secs);
    if (!Number.isFinite(s) || s <= 0) return 'a few minutes';
    if (s < 90) return `${Math.ceil(s)} seconds`;
    return `${Math.ceil(s / 60)} minutes`;
  }

  // ------------------------------------------------------------ sound

  function ensureAudio() {
    if (state.audio || !window.AudioContext) return;
    try {
      state.audio = new AudioContext();
    } catch (_) {
      state.audio = null;
    }
  }

  function beep() {
    if (!state.sound) return;
    ensureAudio();
    const ctx = state.audio;
    if (!ctx) return;
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    const t0 = ctx.currentTime;
    [[880, 0], [660, 0.2]].forEach(([freq, at]) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.2);
    });
    document.body.dataset.lastBeep = String(Date.now());
  }

  function renderSound() {
    const b = $('sound-toggle');
    b.setAttribute('aria-pressed', state.sound ? 'true' : 'false');
    b.textContent = state.sound ? 'Sound on' : 'Sound off';
    b.title = state.sound ? 'A sound plays when a new flag arrives' : 'New flags are shown without sound';
  }

  // ------------------------------------------------------------ sign-in

  function showLogin(message) {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    $('connection-banner').hidden = true;
    setText($('login-error'), message || '');
    document.title = 'Sign in — Check-in console';
    const user = $('login-username');
    (user.value ? $('login-password') : user).focus();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    ensureAudio();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    const error = $('login-error');
    if (!username || !password) {
      error.textContent = 'Enter your user name and password.';
      (username ? $('login-password') : $('login-username')).focus();
      return;
    }
    const button = $('login-submit');
    button.disabled = true;
    error.textContent = '';
    try {
      const me = await api('POST', `${API}/login`, { username, password });
      $('login-password').value = '';
      await startApp(me);
    } catch (e) {
      if (e.status === 401) {
        error.textContent = 'Wrong user name or password. Check them and try again.';
      } else if (e.status === 429) {
        error.textContent = `Too many failed sign-ins. Sign-in is paused; try again in ${fmtWait(e.retryAfter)}.`;
      } else if (e.status === 503) {
        error.textContent = `The server is busy signing others in; try again in ${fmtWait(e.retryAfter)}.`;
      } else {
        error.textContent = e.message;
      }
      $('login-password').select();
      $('login-password').focus();
    } finally {
      button.disabled = false;
    }
  }

  async function onLogout() {
    try {
      await api('POST', `${API}/logout`);
    } catch (_) {
      // Signed out either way: the page forgets everything below.
    }
    signedOut('You have signed out.');
  }

  // Forgets everything on the page and shows the sign-in form.
  function signedOut(message) {
    stopStream();
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
    state.me = null;
    state.clinic = null;
    resetClinicData();
    state.loginAlerts.clear();
    $('login-alert-banner').hidden = true;
    $('ehr-alert-banner').hidden = true;
    showLogin(message);
  }

  function resetClinicData() {
    state.appointments = [];
    state.apptById = new Map();
    state.apptStates = new Map();
    state.formsByAppt = new Map();
    state.flags = [];
    state.knownFlagIds = null;
    state.newFlagIds = new Map();
    state.changes = [];
    state.copays = [];
    state.kiosks = [];
    state.kioskNames = new Map();
    for (const id of ['today-body', 'flag-list', 'change-list', 'copay-body', 'kiosk-body']) {
      $(id).replaceChildren();
    }
    $('enroll-result').hidden = true;
    setText($('enroll-code'), '');
    $('new-flag-toast').hidden = true;
    showActionError('');
    for (const id of ['count-flags', 'count-changes', 'count-copays', 'count-kiosks', 'count-today']) {
      setCount(id, 0, '');
    }
  }

  // ------------------------------------------------------------ the app

  async function startApp(me) {
    state.me = me;
    REASONS = Object.fromEntries((me.reasons || []).map((r) => [r.code, r.label]));
    STEPS = Object.fromEntries((me.steps || []).map((r) => [r.code, r.label]));
    if (!me.clinics.length) {
      showLogin('Your user belongs to no clinic on this server. Ask IT to add you.');
      return;
    }
    const saved = sessionStorage.getItem('ck.clinic');
    state.clinic = me.clinics.find((c) => c.id === saved) || me.clinics[0];
    const picker = $('clinic-picker');
    picker.replaceChildren(...me.clinics.map((c) => el('option', { value: c.id, text: c.name })));
    picker.value = state.clinic.id;
    $('clinic-picker-wrap').hidden = me.clinics.length < 2;
    setText($('whoami'), `Signed in as ${me.username}`);
    setText($('clinic-name'), state.clinic.name);
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    renderSound();
    for (const t of state.timers) clearInterval(t);
    state.timers = [
      setInterval(refreshSince, 15_000),
      setInterval(() => loadKiosks().catch(refreshFailed('kiosks')), KIOSK_REFRESH_MS),
      setInterval(() => loadAppointments().catch(refreshFailed("day's appointments")), APPOINTMENT_REFRESH_MS),
      setInterval(expireNewFlags, 5_000),
    ];
    route(true);
    await loadAll();
    startStream();
  }

  async function switchClinic(id) {
    const c = state.me && state.me.clinics.find((x) => x.id === id);
    if (!c) return;
    sessionStorage.setItem('ck.clinic', c.id);
    stopStream();
    setLive(null, 'Connecting…');
    state.generation += 1;
    state.clinic = c;
    resetClinicData();
    setText($('clinic-name'), c.name);
    announce(`Showing ${c.name}`);
    updateTitle();
    await loadAll();
    startStream();
  }

  async function loadAll() {
    showActionError('');
    const results = await Promise.allSettled([loadKiosks(), loadAppointments()]);
    const more = await Promise.allSettled([loadFlags(), loadChanges(), loadCopays(), loadForms()]);
    const failed = [...results, ...more].find(
      (r) => r.status === 'rejected' && !(r.reason instanceof StaleAnswer),
    );
    if (failed && failed.reason && failed.reason.status !== 401) {
      showActionError(`Some of the page could not be loaded: ${failed.reason.message}`);
    }
  }

  // ------------------------------------------------------------ views

  function currentView() {
    const h = location.hash.replace(/^#/, '');
    return VIEWS.includes(h) ? h : 'today';
  }

  function route(initial) {
    const view = currentView();
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
    for (const a of document.querySelectorAll('.tabs a')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (view === 'flags') $('new-flag-toast').hidden = true;
    updateTitle();
    if (!initial) $(`h-${view}`).focus();
  }

  function updateTitle() {
    if (!state.clinic) return;
    const n = state.flags.length;
    const prefix = n ? `(${n}) ` : '';
    document.title = `${prefix}${VIEW_TITLES[currentView()]} — ${state.clinic.name} — Check-in console`;
  }

  // A tab's count, with words for screen readers ("3 open").
  function setCount(id, n, words) {
    const node = $(id);
    const text = n ? `${n} ${words}` : '';
    if (node.dataset.text === text) return;
    node.dataset.text = text;
    node.replaceChildren();
    if (n) node.append(String(n), el('span', { class: 'visually-hidden', text: ` ${words}` }));
  }

  // ------------------------------------------------------------ today

  async function loadAppointments() {
    const data = await clinicGet('/appointments');
    const before = state.apptStates;
    const changed = [];
    state.appointments = data.appointments;
    state.apptById = new Map(data.appointments.map((a) => [a.id, a]));
    state.apptStates = new Map(data.appointments.map((a) => [a.id, a.check_in_state]));
    if (before.size) {
      for (const a of data.appointments) {
        const was = before.get(a.id);
        if (was && was !== a.check_in_state) changed.push(a);
      }
    }
    setText($('today-day'), new Intl.DateTimeFormat('en-US', {
      weekday: 'long', year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC',
    }).format(new Date(`${data.day}T12:00:00Z`)));
    renderClinicians();
    renderToday(new Set(changed.map((a) => a.id)));
    const arrivals = changed.filter((a) => a.check_in_state === 'arrived' || a.check_in_state === 'checked_in');
    if (arrivals.length) {
      announce(arrivals.map((a) => `${patientName(a)}: ${STATES[a.check_in_state].toLowerCase()}`).join('. '));
    }
    // Names and times in the other lists come from the appointments.
    renderFlags();
    renderChanges();
    renderCopays();
  }

  // Completed intake forms: title, score and band only, never answers.
  async function loadForms() {
    const data = await clinicGet('/forms');
    const by = new Map();
    for (const f of data.forms) {
      if (!by.has(f.appointment_id)) by.set(f.appointment_id, []);
      by.get(f.appointment_id).push(f);
    }
    state.formsByAppt = by;
    renderToday();
  }

  function formText(f) {
    const parts = [f.title];
    if (f.score !== undefined) {
      parts.push(`${f.score}${f.max_score !== undefined ? `/${f.max_score}` : ''}${f.band ? `, ${f.band}` : ''}`);
    }
    if (f.signed) parts.push('signed');
    if (f.follow_up) parts.push(FOLLOW_UPS[f.follow_up] || f.follow_up);
    parts.push(fmtTime(f.completed_at));
    return parts.join(' · ');
  }

  function renderClinicians() {
    const select = $('filter-clinician');
    const chosen = select.value;
    const names = [...new Set(state.appointments.map((a) => a.clinician))].sort();
    select.replaceChildren(
      el('option', { value: '', text: 'All clinicians' }),
      ...names.map((n) => el('option', { value: n, text: n })),
    );
    select.value = names.includes(chosen) ? chosen : '';
  }

  function renderToday(changedIds) {
    const body = $('today-body');
    reconcile(body, state.appointments, (a) => a.id, createApptRow, (row, a) => {
      const r = row.refs;
      setText(r.time, `${fmtTime(a.start)}–${fmtTime(a.end)}`);
      setText(r.name, `${a.last_name}, ${a.first_name}`);
      setText(r.dob, fmtDob(a.date_of_birth));
      setText(r.clinician, a.clinician);
      r.state.className = `badge state-${a.check_in_state}`;
      setText(r.state, STATES[a.check_in_state] || a.check_in_state);
      r.flags.replaceChildren(a.open_flags
        ? el('span', { class: 'badge flag-count', text: `${a.open_flags} open` })
        : '—');
      const forms = state.formsByAppt.get(a.id) || [];
      r.forms.replaceChildren(...(forms.length
        ? forms.map((f) => el('span', { class: `form-result${f.urgent ? ' urgent' : ''}${f.follow_up ? ' follow-up' : ''}`, text: f.urgent ? `Urgent: ${formText(f)}` : formText(f) }))
        : ['—']));
      const due = a.expected_copay_cents + a.prior_balance_cents;
      setText(r.due, due ? fmtMoney(due, a.currency) : '—');
      r.pass.disabled = a.check_in_state === 'cancelled';
      r.pass.setAttribute('aria-label', `Show pass for ${patientName(a)}`);
      row.dataset.clinician = a.clinician;
      row.dataset.state = a.check_in_state;
      if (changedIds && changedIds.has(a.id)) {
        row.classList.remove('changed');
        void row.offsetWidth;
        row.classList.add('changed');
      }
    });
    applyFilters();
  }

  function createApptRow(a) {
    const refs = {
      time: el('td'),
      name: el('th', { scope: 'row' }),
      dob: el('td'),
      clinician: el('td'),
      state: el('span'),
      flags: el('td'),
      forms: el('td', { class: 'forms' }),
      due: el('td', { class: 'num' }),
      pass: el('button', { type: 'button', class: 'pass-button', text: 'Show pass' }),
    };
    refs.pass.addEventListener('click', () => openPass(a.id, refs.pass));
    const row = el('tr', {}, refs.time, refs.name, refs.dob, refs.clinician, el('td', {}, refs.state), refs.flags, refs.forms, refs.due, el('td', {}, refs.pass));
    row.refs = refs;
    return row;
  }

  function applyFilters() {
    const clinician = $('filter-clinician').value;
    const st = $('filter-state').value;
    let shown = 0;
    const counts = {};
    for (const row of $('today-body').children) {
      const visible = (!clinician || row.dataset.clinician === clinician) && (!st || row.dataset.state === st);
      row.hidden = !visible;
      if (visible) {
        shown += 1;
        counts[row.dataset.state] = (counts[row.dataset.state] || 0) + 1;
      }
    }
    $('today-empty').hidden = shown > 0;
    setText($('today-empty'), state.appointments.length ? 'No appointments match these filters.' : 'No appointments today.');
    const parts = Object.keys(STATES)
      .filter((k) => counts[k])
      .map((k) => `${counts[k]} ${STATES[k].toLowerCase()}`);
    setText($('today-summary'), `Showing ${shown} of ${state.appointments.length}${parts.length ? ` · ${parts.join(' · ')}` : ''}`);
    setCount('count-today', state.appointments.filter((a) => a.check_in_state === 'arrived').length, 'arrived, not yet checked in');
  }

  // ------------------------------------------------------------ flags

  async function loadFlags() {
    const flags = await clinicGet('/flags');
    // Urgent flags first, then newest first.
    flags.sort((a, b) => (URGENT.has(b.code) - URGENT.has(a.code))
      || (b.raised_at < a.raised_at ? -1 : b.raised_at > a.raised_at ? 1 : b.id - a.id));
    const fresh = [];
    if (state.knownFlagIds) {
      for (const f of flags) if (!state.knownFlagIds.has(f.id)) fresh.push(f);
    }
    state.knownFlagIds = new Set([...(state.knownFlagIds || []), ...flags.map((f) => f.id)]);
    state.flags = flags;
    const now = Date.now();
    for (const f of fresh) state.newFlagIds.set(f.id, now);
    renderFlags();
    if (fresh.length) newFlagCue(fresh);
  }

  function newFlagCue(fresh) {
    const f = fresh[0];
    const a = f.appointment_id && state.apptById.get(f.appointment_id);
    const who = a ? ` — ${patientName(a)}` : '';
    const what = fresh.length > 1 ? `${fresh.length} new flags` : `New flag: ${REASONS[f.code] || f.code}${who}`;
    announce(`${what}, from ${kioskName(f.kiosk_id)}.`);
    if (currentView() !== 'flags') {
      setText($('new-flag-text'), what);
      $('new-flag-toast').hidden = false;
    }
    const badge = $('count-flags');
    badge.classList.remove('pulse');
    void badge.offsetWidth;
    badge.classList.add('pulse');
    beep();
  }

  function expireNewFlags() {
    const now = Date.now();
    let changed = false;
    for (const [id, at] of state.newFlagIds) {
      if (now - at > NEW_FLAG_MS) {
        state.newFlagIds.delete(id);
        changed = true;
      }
    }
    if (changed) renderFlags();
  }

  function renderFlags() {
    const list = $('flag-list');
    reconcile(list, state.flags, (f) => String(f.id), createFlagCard, (card, f) => {
      const r = card.refs;
      const a = f.appointment_id && state.apptById.get(f.appointment_id);
      setText(r.patient, a ? `${patientName(a)}, ${apptLabel(a)}` : f.appointment_id ? `Appointment ${f.appointment_id}` : 'Not identified');
      setText(r.kiosk, kioskName(f.kiosk_id));
      const isNew = state.newFlagIds.has(f.id);
      card.classList.toggle('new', isNew);
      r.newLabel.hidden = !isNew;
    });
    $('flags-empty').hidden = state.flags.length > 0;
    setCount('count-flags', state.flags.length, 'open');
    updateTitle();
  }

  function createFlagCard(f) {
    const headingId = `flag-${f.id}-title`;
    const formId = `flag-${f.id}-form`;
    const noteId = `flag-${f.id}-note`;
    const refs = {
      patient: el('dd'),
      kiosk: el('dd'),
      newLabel: el('span', { class: 'new-label', text: 'New' }),
    };
    const error = el('p', { class: 'form-error', role: 'alert' });
    const note = el('input', { id: noteId, name: 'note', maxlength: '1000', autocomplete: 'off' });
    const toggle = el('button', { type: 'button', class: 'resolve-toggle', 'aria-expanded': 'false', 'aria-controls': formId, 'aria-describedby': headingId, text: 'Resolve…' });
    const submit = el('button', { type: 'submit', class: 'primary', text: 'Resolve flag' });
    const cancel = el('button', { type: 'button', text: 'Cancel' });
    // A patient at the kiosk waits on these; resolving one frees the kiosk.
    const freesKiosk = f.code === 'help_requested' || f.code === 'identity_not_found';
    const hint = freesKiosk
      ? el('p', { class: 'muted', text: 'Resolving this returns the kiosk from its \u201csomeone is coming\u201d screen to Welcome within seconds.' })
      : null;
    const form = el('form', { id: formId, class: 'resolve-form', hidden: true, 'aria-label': `Resolve: ${REASONS[f.code] || f.code}` },
      hint,
      el('div', { class: 'field' }, el('label', { for: noteId, text: 'Resolution note' }), note),
      submit, cancel);
    const close = () => {
      form.hidden = true;
      toggle.hidden = false;
      toggle.setAttribute('aria-expanded', 'false');
      error.textContent = '';
      toggle.focus();
    };
    toggle.addEventListener('click', () => {
      form.hidden = false;
      toggle.hidden = true;
      toggle.setAttribute('aria-expanded', 'true');
      note.focus();
    });
    cancel.addEventListener('click', close);
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        close();
      }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = note.value.trim();
      if (!text) {
        error.textContent = 'Write a short note saying what was done.';
        note.focus();
        return;
      }
      submit.disabled = true;
      error.textContent = '';
      try {
        await api('POST', clinicPath(`/flags/${f.id}/resolve`), { note: text });
        removeCardAndMoveFocus(card, '.resolve-toggle', 'h-flags');
        state.flags = state.flags.filter((x) => x.id !== f.id);
        renderFlags();
        announce(`Flag resolved: ${REASONS[f.code] || f.code}.`);
      } catch (err) {
        error.textContent = err.message;
        if (err.status === 409 || err.status === 404) loadFlags().catch(refreshFailed('flags'));
      } finally {
        submit.disabled = false;
      }
    });
    const urgent = URGENT.has(f.code) ? el('span', { class: 'urgent-label', 'aria-hidden': 'true', text: 'Urgent' }) : null;
    const card = el('li', { class: `card flag${urgent ? ' urgent' : ''}`, 'aria-labelledby': headingId },
      el('div', { class: 'card-head' },
        el('h3', { id: headingId }, urgent, el('span', { class: 'reason', text: REASONS[f.code] || f.code }), refs.newLabel),
        sinceNode(f.raised_at)),
      el('dl', { class: 'card-meta' },
        el('div', {}, el('dt', { text: 'Patient:' }), refs.patient),
        el('div', {}, el('dt', { text: 'Step:' }), el('dd', { text: STEPS[f.step] || f.step })),
        el('div', {}, el('dt', { text: 'Kiosk:' }), refs.kiosk),
        el('div', {}, el('dt', { text: 'Raised:' }), el('dd', { text: fmtTime(f.raised_at) }))),
      el('p', { class: 'card-text', text: f.text }),
      el('div', { class: 'card-actions' }, toggle),
      form,
      error);
    card.refs = refs;
    return card;
  }

  // Removes an item the user just acted on, and puts the keyboard focus on
  // the same control of the next item (or the previous, or the heading).
  function removeCardAndMoveFocus(node, selector, headingId) {
    const next = node.nextElementSibling || node.previousElementSibling;
    node.remove();
    const target = next && next.querySelector(selector);
    if (target && !target.hidden) target.focus();
    else $(headingId).focus();
  }

  // ------------------------------------------------------------ proposed changes

  async function loadChanges() {
    state.changes = await clinicGet('/changes');
    renderChanges();
  }

  function renderChanges() {
    reconcile($('change-list'), state.changes, (c) => String(c.id), createChangeCard, (card, c) => {
      const a = state.apptById.get(c.appointment_id);
      setText(card.refs.title, `${c.kind === 'coverage' ? 'Insurance' : 'Address and contact details'} for ${a ? patientName(a) : `patient ${c.patient_id}`}`);
      setText(card.refs.appt, a ? apptLabel(a) : c.appointment_id);
      setText(card.refs.kiosk, kioskName(c.kiosk_id));
    });
    $('changes-empty').hidden = state.changes.length > 0;
    setCount('count-changes', state.changes.length, 'waiting');
  }

  function diffRows(c) {
    const rows = [];
    if (c.kind === 'demographics') {
      const now = (c.on_file && c.on_file.demographics) || {};
      const next = c.demographics || {};
      const na = now.address || {};
      const pa = next.address || {};
      const ne = now.emergency_contact || {};
      const pe = next.emergency_contact || {};
      rows.push(
        ['Street', na.line1, pa.line1],
        ['Unit', na.line2, pa.line2],
        ['City', na.city, pa.city],
        ['State', na.region, pa.region],
        ['Postal code', na.postal_code, pa.postal_code],
        ['Phone', now.phone, next.phone],
        ['Email', now.email, next.email],
        ['Emergency contact', ne.name, pe.name],
        ['Relation', ne.relation, pe.relation],
        ['Emergency phone', ne.phone, pe.phone],
      );
    } else {
      const now = c.on_file && c.on_file.coverage;
      const next = c.coverage;
      rows.push(
        ['Insurer', now ? now.payer : '', next ? next.payer : 'No insurance'],
        ['Plan', now ? now.plan : '', next ? '' : ''],
        ['Member ID', now ? now.member_id : '', next ? next.member_id : ''],
        ['Group', now ? now.group : '', next ? next.group : ''],
      );
    }
    return rows.map(([field, a, b]) => [field, a || '', b || '']);
  }

  function valueCell(cls, value) {
    return value
      ? el('td', { class: cls, text: value })
      : el('td', { class: cls }, el('span', { class: 'blank', text: '(none)' }));
  }

  function createChangeCard(c) {
    const titleId = `change-${c.id}-title`;
    const noteId = `change-${c.id}-note`;
    const refs = { title: el('h3', { id: titleId }), appt: el('dd'), kiosk: el('dd') };
    const rows = diffRows(c);
    const differing = rows.filter(([, a, b]) => a !== b).length;
    const table = el('table', { class: 'diff' },
      el('caption', { class: 'visually-hidden', text: `On file compared with proposed; ${differing} ${differing === 1 ? 'field differs' : 'fields differ'}` }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Field' }), el('th', { scope: 'col', text: 'On file' }), el('th', { scope: 'col', text: 'Proposed' }))),
      el('tbody', {}, ...rows.map(([field, a, b]) => el('tr', { class: a !== b ? 'differs' : null },
        el('th', { scope: 'row' }, field, a !== b ? el('span', { class: 'diff-mark', text: '(changed)' }) : null),
        valueCell('onfile', a),
        valueCell('proposed', b)))));
    const error = el('p', { class: 'form-error', role: 'alert' });
    const note = el('input', { id: noteId, maxlength: '1000', autocomplete: 'off' });
    const approve = el('button', { type: 'button', class: 'primary approve', 'aria-describedby': titleId, text: 'Approve' });
    const reject = el('button', { type: 'button', class: 'danger reject', 'aria-describedby': titleId, text: 'Reject' });
    const decide = async (verb) => {
      approve.disabled = true;
      reject.disabled = true;
      error.textContent = '';
      const text = note.value.trim();
      try {
        await api('POST', clinicPath(`/changes/${c.id}/${verb}`), text ? { note: text } : {});
        removeCardAndMoveFocus(card, '.approve', 'h-changes');
        state.changes = state.changes.filter((x) => x.id !== c.id);
        renderChanges();
        announce(verb === 'approve' ? 'Change approved and saved to the record.' : 'Change rejected; the record is unchanged.');
      } catch (err) {
        error.textContent = err.message;
        if (err.status === 409 || err.status === 404) loadChanges().catch(refreshFailed('proposed changes'));
      } finally {
        approve.disabled = false;
        reject.disabled = false;
      }
    };
    approve.addEventListener('click', () => decide('approve'));
    reject.addEventListener('click', () => decide('reject'));
    const card = el('li', { class: 'card change', 'aria-labelledby': titleId },
      el('div', { class: 'card-head' }, refs.title, sinceNode(c.proposed_at)),
      el('dl', { class: 'card-meta' },
        el('div', {}, el('dt', { text: 'Appointment:' }), refs.appt),
        el('div', {}, el('dt', { text: 'Kiosk:' }), refs.kiosk)),
      table,
      el('div', { class: 'card-actions' },
        el('div', { class: 'field', style: null }, el('label', { for: noteId, text: 'Note (optional)' }), note),
        approve, reject),
      error);
    card.refs = refs;
    return card;
  }

  // ------------------------------------------------------------ co-pays

  async function loadCopays() {
    state.copays = await clinicGet('/copays?status=pending');
    renderCopays();
  }

  function renderCopays() {
    reconcile($('copay-body'), state.copays, (c) => String(c.id), createCopayRow, (row, c) => {
      const a = state.apptById.get(c.appointment_id);
      const name = a ? patientName(a) : `Appointment ${c.appointment_id}`;
      setText(row.refs.name, name);
      setText(row.refs.appt, a ? apptLabel(a) : '—');
      const amount = fmtMoney(c.amount_cents, c.currency);
      row.refs.collect.setAttribute('aria-label', `Mark collected: ${amount} from ${name}`);
      row.refs.waive.setAttribute('aria-label', `Waive: ${amount} for ${name}`);
    });
    $('copays-empty').hidden = state.copays.length > 0;
    setCount('count-copays', state.copays.length, 'pending');
  }

  function createCopayRow(c) {
    const error = el('p', { class: 'form-error', role: 'alert' });
    const refs = {
      name: el('th', { scope: 'row' }),
      appt: el('td'),
      collect: el('button', { type: 'button', class: 'primary collect', text: 'Mark collected' }),
      waive: el('button', { type: 'button', class: 'waive', text: 'Waive' }),
    };
    const decide = async (status) => {
      refs.collect.disabled = true;
      refs.waive.disabled = true;
      error.textContent = '';
      try {
        await api('POST', clinicPath(`/copays/${c.id}`), { status });
        const name = refs.name.textContent;
        removeCardAndMoveFocus(row, '.collect', 'h-copays');
        state.copays = state.copays.filter((x) => x.id !== c.id);
        renderCopays();
        announce(`${fmtMoney(c.amount_cents, c.currency)} from ${name} ${status === 'collected' ? 'marked collected' : 'waived'}.`);
      } catch (err) {
        error.textContent = err.message;
        if (err.status === 409 || err.status === 404) loadCopays().catch(refreshFailed('co-pays'));
      } finally {
        refs.collect.disabled = false;
        refs.waive.disabled = false;
      }
    };
    refs.collect.addEventListener('click', () => decide('collected'));
    refs.waive.addEventListener('click', () => decide('waived'));
    const row = el('tr', {},
      refs.name,
      refs.appt,
      el('td', { class: 'num', text: fmtMoney(c.amount_cents, c.currency) }),
      el('td', { text: 'Pay at the front desk' }),
      el('td', {}, sinceNode(c.created_at)),
      el('td', {}, el('div', { class: 'actions' }, refs.collect, refs.waive), error));
    row.refs = refs;
    return row;
  }

  // ------------------------------------------------------------ kiosks

  // The EHR connector's health: its last pull, its errors and the
  // write-back queue. Shown with the fleet, which IT watches.
  async function loadEhr() {
    const e = await clinicGet('/ehr');
    const details = $('ehr-details');
    if (!e.configured) {
      setText($('ehr-summary'), 'No EHR connection is configured for this clinic. The schedule comes from imports.');
      details.hidden = true;
      return;
    }
    const failing = Boolean(e.last_pull_error || e.last_write_error || e.queue_failed > 0);
    setText($('ehr-summary'), `${failing ? 'Needs attention' : 'Working'}: ${e.base_url} (${e.clinic_reference}).`);
    setText($('ehr-last-pull'), e.last_pull_at ? fmtDateTime(e.last_pull_at) : 'Not yet');
    setText($('ehr-last-ok'), e.last_pull_ok_at ? fmtDateTime(e.last_pull_ok_at) : 'Not yet');
    setText($('ehr-pull-error'), e.last_pull_error || 'None');
    const queue = `${e.queue_pending} waiting, ${e.queue_failed} failed`;
    setText($('ehr-queue'), e.oldest_pending_at ? `${queue}; oldest since ${fmtDateTime(e.oldest_pending_at)}` : queue);
    setText($('ehr-write-error'), e.last_write_error || 'None');
    // With replicas on PostgreSQL, the one running this clinic's connector.
    const runsOn = e.lease_holder || '';
    $('ehr-runs-on-label').hidden = !runsOn;
    $('ehr-runs-on').hidden = !runsOn;
    setText($('ehr-runs-on'), runsOn);
    details.hidden = false;
    renderEhrAlerts(e);
  }

  // EHR alerts staff act on: removals a pull held back (shown as a banner
  // until confirmed), and write-backs that failed for good (each with its
  // appointment and a Retry button).
  function renderEhrAlerts(e) {
    const held = e.held_removals;
    if (held) {
      const n = held.appointment_ids.length;
      const left = Math.max(held.pulls_to_release - held.agreeing_pulls, 0);
      setText($('ehr-alert-text'), `EHR alert: ${held.reason}. ${n} appointment${n === 1 ? '' : 's'} kept on the schedule. `
        + `Check the EHR, then remove ${n === 1 ? 'it' : 'them'} here, or ${n === 1 ? 'it goes' : 'they go'} after ${left} more pull${left === 1 ? '' : 's'} agree.`);
    }
    $('ehr-alert-banner').hidden = !held;
    const failed = e.failed_writes || [];
    $('h-ehr-failed').hidden = failed.length === 0;
    $('ehr-failed').replaceChildren(...failed.map((f) => {
      const a = f.appointment_id && state.apptById ? state.apptById.get(f.appointment_id) : null;
      const what = f.kind === 'appointment_status' ? `Status “${f.status}”` : (f.kind === 'coverage' ? 'Coverage change' : 'Demographics change');
      const who = a ? `${patientName(a)}, ${apptLabel(a)}` : `appointment ${f.appointment_id || '—'}`;
      const error = el('span', { class: 'form-error', role: 'alert' });
      const retry = el('button', { type: 'button', class: 'ghost', text: 'Retry' });
      retry.addEventListener('click', async () => {
        retry.disabled = true;
        error.textContent = '';
        try {
          renderEhrAlerts(await api('POST', clinicPath(`/ehr/writes/${encodeURIComponent(f.item_id)}/retry`)));
          announce('Write-back queued again.');
        } catch (err) {
          error.textContent = err.message;
          retry.disabled = false;
        }
      });
      return el('li', {}, el('span', { text: `${what} for ${who}: ${f.error}` }), retry, error);
    }));
  }

  async function confirmHeldRemovals() {
    const button = $('ehr-alert-confirm');
    if (!window.confirm('Remove the appointments the EHR no longer lists from today\'s schedule?')) return;
    button.disabled = true;
    showActionError('');
    try {
      renderEhrAlerts(await api('POST', clinicPath('/ehr/held-removals/confirm')));
      announce('Appointments removed.');
      await loadAppointments();
    } catch (err) {
      showActionError(err.message);
    } finally {
      button.disabled = false;
    }
  }

  // A kiosk clock 2 minutes or more off the server's is shown as wrong, as
  // in the server's CLOCK_SKEW_WARN_SECS.
  const CLOCK_SKEW_WARN_SECS = 120;

  function clockState(skew) {
    if (skew == null) return { text: '—', wrong: false };
    if (Math.abs(skew) < CLOCK_SKEW_WARN_SECS) return { text: 'OK', wrong: false };
    return { text: `${fmtDuration(Math.abs(skew))} ${skew > 0 ? 'fast' : 'slow'}`, wrong: true };
  }

  async function loadKiosks() {
    loadEhr().catch((err) => {
      if (!(err instanceof StaleAnswer)) setText($('ehr-summary'), `The EHR status could not be loaded: ${err.message}`);
    });
    state.kiosks = await clinicGet('/kiosks');
    state.kioskNames = new Map(state.kiosks.map((k) => [k.id, k.name]));
    renderKiosks();
  }

  function renderKiosks() {
    reconcile($('kiosk-body'), state.kiosks, (k) => k.id, () => {
      const row = el('tr');
      row.refs = {
        name: el('th', { scope: 'row' }),
        status: el('span'),
        seen: el('td'),
        version: el('td'),
        depth: el('td', { class: 'num' }),
        oldest: el('td', { class: 'num' }),
        sync: el('td'),
        clock: el('span'),
        revoke: el('button', { type: 'button', class: 'waive revoke', text: 'Revoke' }),
        error: el('p', { class: 'form-error', role: 'alert' }),
      };
      const r = row.refs;
      r.revoke.addEventListener('click', () => revokeKiosk(row));
      row.append(r.name, el('td', {}, r.status), r.seen, r.version, r.depth, r.oldest, r.sync,
        el('td', {}, r.clock), el('td', {}, r.revoke, r.error));
      return row;
    }, (row, k) => {
      row.kiosk = k;
      const r = row.refs;
      setText(r.name, k.name);
      const status = k.revoked_at ? 'revoked' : k.online ? 'online' : 'offline';
      r.status.className = `badge state-${status}`;
      setText(r.status, { online: 'Online', offline: 'Offline', revoked: 'Revoked' }[status]);
      r.seen.replaceChildren(sinceNode(k.last_seen_at));
      setText(r.version, k.app_version);
      setText(r.depth, String(k.outbox_depth));
      setText(r.oldest, k.outbox_oldest_age_secs == null ? '—' : fmtDuration(k.outbox_oldest_age_secs));
      r.sync.replaceChildren(sinceNode(k.last_sync_at));
      const clock = clockState(k.clock_skew_secs);
      r.clock.className = clock.wrong ? 'badge state-offline' : '';
      setText(r.clock, clock.text);
      r.clock.title = clock.wrong
        ? 'Appointment windows and passes are judged by the kiosk\'s clock. Fix its time synchronisation (NTP).'
        : '';
      r.revoke.hidden = Boolean(k.revoked_at);
      r.revoke.setAttribute('aria-label', `Revoke ${k.name}`);
    });
    $('kiosks-empty').hidden = state.kiosks.length > 0;
    const offline = state.kiosks.filter((k) => !k.online && !k.revoked_at).length;
    setCount('count-kiosks', offline, 'offline');
    $('count-kiosks').classList.toggle('count-alert', offline > 0);
    renderFlags();
    renderChanges();
  }

  // A lost or stolen kiosk loses its token at once; its unsent check-ins
  // stay on the device until it is enrolled again.
  async function revokeKiosk(row) {
    const k = row.kiosk;
    const r = row.refs;
    if (!k || !window.confirm(`Revoke ${k.name}? It stops syncing until it is enrolled again.`)) return;
    r.revoke.disabled = true;
    r.error.textContent = '';
    try {
      await api('POST', clinicPath(`/kiosks/${encodeURIComponent(k.id)}/revoke`));
      announce(`${k.name} revoked.`);
      await loadKiosks();
    } catch (err) {
      r.error.textContent = err.message;
    } finally {
      r.revoke.disabled = false;
    }
  }

  async function createEnrollmentCode() {
    const button = $('enroll-create');
    button.disabled = true;
    showActionError('');
    try {
      const res = await api('POST', clinicPath('/enrollment-codes'));
      setText($('enroll-code'), res.code);
      setText($('enroll-expires'), `at ${fmtDateTime(res.expires_at)}`);
      setText($('enroll-copy'), 'Copy code');
      $('enroll-result').hidden = false;
      $('enroll-code').focus();
      announce(`Enrollment code created: ${res.code.split('').join(' ')}`);
    } catch (err) {
      showActionError(err.message);
    } finally {
      button.disabled = false;
    }
  }

  async function copyEnrollmentCode() {
    const code = $('enroll-code').textContent;
    let ok = false;
    try {
      await navigator.clipboard.writeText(code);
      ok = true;
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents($('enroll-code'));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try {
        ok = document.execCommand('copy');
      } catch (__) {
        ok = false;
      }
    }
    setText($('enroll-copy'), ok ? 'Copied' : 'Copy code');
    announce(ok ? 'Code copied.' : 'Could not copy; the code is selected, press Control+C.');
  }

  // ------------------------------------------------------------ passes

  async function openPass(appointmentId, opener) {
    const a = state.apptById.get(appointmentId);
    const dialog = $('pass-dialog');
    const img = $('pass-image');
    state.lastFocus = opener || document.activeElement;
    setText($('pass-who'), a ? `${patientName(a)} — ${fmtTime(a.start)} with ${a.clinician}` : '');
    setText($('pass-error'), '');
    setText($('pass-expires'), '');
    img.hidden = true;
    img.removeAttribute('src');
    img.alt = '';
    if (!dialog.open) dialog.showModal();
    $('pass-close').focus();
    try {
      const pass = await api('GET', clinicPath(`/appointments/${encodeURIComponent(appointmentId)}/pass`));
      img.alt = `QR check-in pass${a ? ` for ${patientName(a)}` : ''}`;
      img.src = clinicPath(`/appointments/${encodeURIComponent(appointmentId)}/pass.svg`);
      img.hidden = false;
      setText($('pass-expires'), `Valid until ${fmtDateTime(pass.expires_at)}`);
      $('pass-print').disabled = false;
      $('pass-print').focus();
    } catch (err) {
      setText($('pass-error'), err.message);
      $('pass-print').disabled = true;
    }
  }

  function closePass() {
    const dialog = $('pass-dialog');
    if (dialog.open) dialog.close();
  }

  // ------------------------------------------------------------ live stream

  // `up`: true live, false down, null connecting.
  function setLive(up, text) {
    const s = $('live-status');
    s.classList.toggle('live', up === true);
    s.classList.toggle('down', up === false);
    setText($('live-status-text'), text);
  }

  function startStream() {
    stopStream();
    if (!state.clinic) return;
    const es = new EventSource(clinicPath('/stream'));
    state.stream = es;
    es.addEventListener('open', () => {
      if (state.stream !== es) return;
      const wasDown = state.everConnected && !state.streamUp;
      state.streamUp = true;
      state.everConnected = true;
      state.reconnectDelay = 500;
      $('connection-banner').hidden = true;
      setLive(true, 'Live');
      if (wasDown) {
        announce('Reconnected. The page is up to date.');
        loadAll();
      }
    });
    es.addEventListener('change', (ev) => {
      let notice = null;
      try {
        notice = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (notice) queueRefresh(notice.kind);
    });
    es.addEventListener('alert', (ev) => {
      let notice = null;
      try {
        notice = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (notice && notice.kind === 'login_alert') showLoginAlert(notice.id);
    });
    es.addEventListener('resync', () => loadAll());
    es.addEventListener('error', () => {
      if (state.stream !== es) return;
      // Reconnect on our own schedule, after checking the session, so a
      // server restart and an expired session are each handled clearly.
      es.close();
      state.stream = null;
      streamDown();
    });
  }

  // "user amy" or "address 203.0.113.9": repeated failed sign-ins. The
  // banner lists every subject until staff dismiss it.
  function showLoginAlert(subject) {
    state.loginAlerts.add(subject);
    const text = `Repeated failed sign-ins for ${[...state.loginAlerts].join(' and for ')}. If this was not someone on staff, tell IT.`;
    setText($('login-alert-text'), text);
    $('login-alert-banner').hidden = false;
    announce(text);
  }

  function stopStream() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.stream) state.stream.close();
    state.stream = null;
    state.streamUp = false;
  }

  function streamDown() {
    state.streamUp = false;
    $('connection-banner').hidden = false;
    setText($('connection-text'), 'Disconnected from the clinic server — reconnecting…');
    setLive(false, 'Disconnected');
    clearTimeout(state.reconnectTimer);
    const delay = state.reconnectDelay;
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 5000);
    state.reconnectTimer = setTimeout(tryReconnect, delay);
  }

  async function tryReconnect() {
    state.reconnectTimer = null;
    if (!state.clinic) return;
    try {
      await api('GET', `${API}/me`);
    } catch (err) {
      if (err.status === 401) return; // signedOut() already showed the sign-in form
      streamDown();
      return;
    }
    startStream();
  }

  const REFRESHERS = {
    appointment: () => loadAppointments(),
    flag: () => Promise.all([loadFlags(), loadAppointments()]),
    copay: () => loadCopays(),
    change: () => loadChanges(),
    kiosk: () => loadKiosks(),
    form: () => loadForms(),
  };

  // Coalesces a burst of notices into one fetch per list.
  function queueRefresh(kind) {
    if (!REFRESHERS[kind]) {
      state.pending.add('all');
    } else {
      state.pending.add(kind);
    }
    if (state.pendingTimer) return;
    state.pendingTimer = setTimeout(() => {
      const kinds = [...state.pending];
      state.pending.clear();
      state.pendingTimer = null;
      if (kinds.includes('all')) {
        loadAll();
        return;
      }
      for (const k of kinds) REFRESHERS[k]().catch(refreshFailed('list'));
    }, 40);
  }

  // ------------------------------------------------------------ boot

  function wire() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', onLogout);
    $('login-alert-dismiss').addEventListener('click', () => {
      state.loginAlerts.clear();
      $('login-alert-banner').hidden = true;
    });
    $('sound-toggle').addEventListener('click', () => {
      state.sound = !state.sound;
      localStorage.setItem('ck.sound', state.sound ? 'on' : 'off');
      renderSound();
      if (state.sound) {
        ensureAudio();
        if (state.audio && state.audio.state === 'suspended') state.audio.resume().catch(() => {});
      }
      announce(state.sound ? 'Sound on for new flags.' : 'Sound off.');
    });
    $('clinic-picker').addEventListener('change', (e) => switchClinic(e.target.value));
    $('filter-clinician').addEventListener('change', applyFilters);
    $('filter-state').addEventListener('change', applyFilters);
    $('enroll-create').addEventListener('click', createEnrollmentCode);
    $('ehr-alert-confirm').addEventListener('click', confirmHeldRemovals);
    $('enroll-copy').addEventListener('click', copyEnrollmentCode);
    $('pass-close').addEventListener('click', closePass);
    $('pass-print').addEventListener('click', () => window.print());
    $('pass-dialog').addEventListener('close', () => {
      const back = state.lastFocus;
      state.lastFocus = null;
      if (back && document.contains(back)) back.focus();
    });
    $('new-flag-link').addEventListener('click', () => {
      $('new-flag-toast').hidden = true;
    });
    window.addEventListener('hashchange', () => {
      if (state.me) route(false);
    });
    // Browsers only allow sound after a user gesture; take the first one.
    const unlock = () => {
      ensureAudio();
      if (state.audio && state.audio.state === 'suspended') state.audio.resume().catch(() => {});
    };
    document.addEventListener('pointerdown', unlock, { once: true });
    document.addEventListener('keydown', unlock, { once: true });
  }

  async function boot() {
    wire();
    try {
      const me = await api('GET', `${API}/me`);
      await startApp(me);
    } catch (err) {
      showLogin(err.status === 401 ? '' : err.message);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
