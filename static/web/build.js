// The build page, live: statuses follow the repository's build events
// (/api/stream/{owner}/{name}); the chosen step's log streams over server-sent events
// (/api/stream/{owner}/{name}/{build}/{stage}/{step}) while it runs, or comes in one answer
// (the logs API) once it has finished. ANSI colours become classes (the
// Content-Security-Policy allows no inline style). Lines are drawn at most BUDGET ms per
// animation frame, in blocks of 500 that the browser skips laying out while off screen
// (content-visibility), so a log of tens of thousands of lines keeps the page responsive.
'use strict';
(function () {
  const main = document.querySelector('main');
  const repo = main.dataset.repo;
  const build = Number(main.dataset.build);
  const BLOCK = 500;
  const BATCH = 250; // lines parsed into the page at a time
  const BUDGET = 12; // ms of drawing per frame
  const PIECE = 128 * 1024; // characters of a log answer parsed at a time
  const DONE = ['success', 'failure', 'killed', 'error', 'skipped', 'declined'];

  // --- ANSI SGR -> classes ------------------------------------------------------------------
  const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const SGR = /\x1b\[([0-9;]*)m/g;
  const OTHER = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b/g;

  function classes(st) {
    const c = [];
    if (st.b) c.push('b');
    if (st.d) c.push('d');
    if (st.i) c.push('i');
    if (st.u) c.push('u');
    if (st.f) c.push('f' + st.f);
    if (st.g) c.push('g' + st.g);
    return c.join(' ');
  }

  function apply(st, codes) {
    const list = codes === '' ? [0] : codes.split(';').map(Number);
    for (let k = 0; k < list.length; k++) {
      const n = list[k];
      if (n === 0) { st.b = st.d = st.i = st.u = false; st.f = st.g = 0; }
      else if (n === 1) st.b = true;
      else if (n === 2) st.d = true;
      else if (n === 3) st.i = true;
      else if (n === 4) st.u = true;
      else if (n === 22) st.b = st.d = false;
      else if (n === 23) st.i = false;
      else if (n === 24) st.u = false;
      else if ((n >= 30 && n <= 37) || (n >= 90 && n <= 97)) st.f = n;
      else if (n === 39) st.f = 0;
      else if (n >= 40 && n <= 47) st.g = n;
      else if (n === 49) st.g = 0;
      else if (n === 38 || n === 48) k += list[k + 1] === 5 ? 2 : 4; // 256 and true colours: ignored
    }
  }

  function render(text) {
    const cr = text.lastIndexOf('\r', text.length - 2);
    if (cr >= 0) text = text.slice(cr + 1);
    text = text.replace(/\r?\n$/, '');
    if (text.indexOf('\x1b') < 0) return esc(text);
    const st = { b: false, d: false, i: false, u: false, f: 0, g: 0 };
    let out = '';
    let last = 0;
    let m;
    const piece = (s) => {
      s = s.replace(OTHER, '');
      if (!s) return;
      const c = classes(st);
      out += c ? `<span class="${c}">${esc(s)}</span>` : esc(s);
    };
    SGR.lastIndex = 0;
    while ((m = SGR.exec(text)) !== null) {
      piece(text.slice(last, m.index));
      apply(st, m[1]);
      last = SGR.lastIndex;
    }
    piece(text.slice(last));
    return out;
  }

  // --- the log --------------------------------------------------------------------------------
  const box = document.getElementById('log-lines');
  const state = document.getElementById('log-state');
  let queue = [];
  let head = 0; // the first line of the queue not drawn yet
  let next = 0; // the next line position expected (a reconnect resends from the start)
  let block = null;
  let inBlock = 0;
  let scheduled = false;
  let ended = false;
  let follow = true;
  let target = /^#L(\d+)$/.exec(window.location.hash);
  target = target ? Number(target[1]) : 0;

  function line(l) {
    const no = l.pos + 1;
    return `<div class="ln" id="L${no}"><a class="no" href="#L${no}">${no}</a><span>${render(l.out)}</span></div>`;
  }

  // Draws queued lines for at most BUDGET ms, then yields to the browser until the next frame.
  function flush() {
    scheduled = false;
    const started = performance.now();
    while (head < queue.length && performance.now() - started < BUDGET) {
      if (!block) {
        block = document.createElement('div');
        block.className = 'blk';
        box.appendChild(block);
        inBlock = 0;
      }
      const n = Math.min(queue.length - head, BLOCK - inBlock, BATCH);
      let html = '';
      for (let k = head; k < head + n; k++) html += line(queue[k]);
      block.insertAdjacentHTML('beforeend', html);
      head += n;
      inBlock += n;
      if (inBlock === BLOCK) block = null;
    }
    if (head === queue.length) { queue = []; head = 0; }
    if (target && next >= target) {
      const el = document.getElementById('L' + target);
      if (el) { el.classList.add('hl'); el.scrollIntoView({ block: 'center' }); follow = false; target = 0; }
    } else if (follow) {
      box.scrollTop = box.scrollHeight;
    }
    if (head < queue.length) schedule();
    else state.textContent = ended ? `${next} lines, finished` : `${next} lines, live`;
  }

  function schedule() {
    if (!scheduled) { scheduled = true; window.requestAnimationFrame(flush); }
  }

  function take(l) {
    if (l.pos < next) return;
    next = l.pos + 1;
    queue.push(l);
  }

  function finish() {
    ended = true;
    schedule();
    if (main.dataset.done === 'false' && main.dataset.finished === 'true') window.location.reload();
  }

  function highlight() {
    const m = /^#L(\d+)$/.exec(window.location.hash);
    if (!m) return;
    for (const el of box.querySelectorAll('.ln.hl')) el.classList.remove('hl');
    const el = document.getElementById('L' + m[1]);
    if (el) { el.classList.add('hl'); el.scrollIntoView({ block: 'center' }); follow = false; }
    else target = Number(m[1]);
  }

  // A finished step's log comes in one answer (Drone's JSON array); a running one streams.
  function stream() {
    const source = new EventSource(`/api/stream/${repo}/${build}/${main.dataset.stage}/${main.dataset.step}`);
    source.onmessage = (e) => { take(JSON.parse(e.data)); schedule(); };
    source.addEventListener('error', (e) => {
      if (e.data === 'eof') {
        source.close();
        finish();
      } else if (source.readyState === EventSource.CLOSED) {
        state.textContent = 'disconnected';
      }
    });
  }

  // Lines are parsed as the answer arrives, a network chunk at a time: no "out" string can hold
  // the separator below (its quotes would be escaped), so cutting there is safe.
  async function load() {
    const res = await fetch(`/api/repos/${repo}/builds/${build}/logs/${main.dataset.stage}/${main.dataset.step}`,
      { credentials: 'same-origin' });
    if (!res.ok || !res.body) { stream(); return; }
    const SEP = '},{"pos":';
    const parse = (text) => {
      text = text.trim().replace(/^\[/, '').replace(/\]$/, '');
      if (text) for (const l of JSON.parse(`[${text}]`)) take(l);
      schedule();
    };
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const idle = () => new Promise((r) => setTimeout(r, 0));
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += value;
      // At most PIECE characters parsed per task, so a big network chunk does not freeze the page.
      for (;;) {
        let cut = rest.lastIndexOf(SEP, PIECE);
        if (cut < 0) cut = rest.indexOf(SEP); // a line longer than PIECE
        if (cut < 0) break;
        parse(rest.slice(0, cut + 1));
        rest = '{"pos":' + rest.slice(cut + SEP.length);
        await idle();
      }
    }
    parse(rest);
    finish();
  }

  if (box) {
    window.addEventListener('hashchange', highlight);
    box.addEventListener('scroll', () => {
      follow = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
    });
    const step = document.querySelector(`[data-status-of="step-${main.dataset.stage}-${main.dataset.step}"]`);
    if (step && DONE.includes(step.dataset.status)) load();
    else stream();
  }

  // --- statuses -------------------------------------------------------------------------------
  function setStatus(el, status) {
    if (!el || el.dataset.status === status) return;
    el.dataset.status = status;
    el.className = `st st-${status}`;
    el.textContent = status;
  }

  const builds = new EventSource(`/api/stream/${repo}`);
  builds.onmessage = (e) => {
    const b = JSON.parse(e.data).build;
    if (!b || b.number !== build) return;
    setStatus(document.getElementById('build-status'), b.status);
    let missing = false;
    for (const stage of b.stages || []) {
      setStatus(document.querySelector(`[data-status-of="stage-${stage.number}"]`), stage.status);
      for (const step of stage.steps || []) {
        const el = document.querySelector(`[data-status-of="step-${stage.number}-${step.number}"]`);
        if (!el) missing = true;
        setStatus(el, step.status);
      }
    }
    const finished = DONE.includes(b.status);
    if (finished) main.dataset.finished = 'true';
    // Nobody picked a step and the one shown has ended: follow the step that runs now.
    const chosen = new URLSearchParams(window.location.search).has('step');
    const running = (b.stages || []).flatMap((st) => (st.steps || [])
      .filter((s) => s.status === 'running')
      .map((s) => `${st.number}-${s.number}`));
    if (!chosen && ended && running.length && !running.includes(`${main.dataset.stage}-${main.dataset.step}`)) {
      builds.close();
      window.location.reload();
      return;
    }
    // New steps, or a finished build (whose buttons change): draw the page again, once the
    // log being read has ended.
    if (main.dataset.done === 'false' && (missing || finished) && (!box || ended)) {
      builds.close();
      window.location.reload();
    }
  };
})();
