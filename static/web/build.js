// The build page, live: statuses follow the repository's build events
// (/api/stream/{owner}/{name}); the chosen step's log streams over server-sent events
// (/api/stream/{owner}/{name}/{build}/{stage}/{step}), its ANSI colours turned into classes
// (the Content-Security-Policy allows no inline style). Lines are added a batch per animation
// frame in blocks of 500 that the browser skips laying out while off screen
// (content-visibility), so a log of tens of thousands of lines keeps the page responsive.
'use strict';
(function () {
  const main = document.querySelector('main');
  const repo = main.dataset.repo;
  const build = Number(main.dataset.build);
  const BLOCK = 500;
  const PER_FRAME = 2000;

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
  const queue = [];
  let next = 0; // the next line position expected (reconnects resend from the start)
  let block = null;
  let inBlock = 0;
  let scheduled = false;
  let ended = false;
  let follow = true;
  let target = /^#L(\d+)$/.exec(window.location.hash);
  target = target ? Number(target[1]) : 0;

  function flush() {
    scheduled = false;
    const n = Math.min(queue.length, PER_FRAME);
    let html = '';
    const parts = [];
    for (let k = 0; k < n; k++) {
      const line = queue[k];
      const no = line.pos + 1;
      html += `<div class="ln" id="L${no}"><a class="no" href="#L${no}">${no}</a><span>${render(line.out)}</span></div>`;
      inBlock++;
      if (inBlock === BLOCK || k === n - 1) {
        parts.push([html, inBlock === BLOCK]);
        html = '';
        if (inBlock === BLOCK) inBlock = 0;
      }
    }
    queue.splice(0, n);
    for (const [chunk, full] of parts) {
      if (!block) {
        block = document.createElement('div');
        block.className = 'blk';
        box.appendChild(block);
      }
      block.insertAdjacentHTML('beforeend', chunk);
      if (full) block = null;
    }
    if (target && next >= target) {
      const el = document.getElementById('L' + target);
      if (el) { el.classList.add('hl'); el.scrollIntoView({ block: 'center' }); follow = false; target = 0; }
    } else if (follow) {
      box.scrollTop = box.scrollHeight;
    }
    if (queue.length) schedule();
    else if (ended) state.textContent = `${next} lines, finished`;
    else state.textContent = `${next} lines, live`;
  }

  function schedule() {
    if (!scheduled) { scheduled = true; window.requestAnimationFrame(flush); }
  }

  function highlight() {
    const m = /^#L(\d+)$/.exec(window.location.hash);
    if (!m) return;
    for (const el of box.querySelectorAll('.ln.hl')) el.classList.remove('hl');
    const el = document.getElementById('L' + m[1]);
    if (el) { el.classList.add('hl'); el.scrollIntoView({ block: 'center' }); follow = false; }
    else target = Number(m[1]);
  }

  if (box) {
    window.addEventListener('hashchange', highlight);
    box.addEventListener('scroll', () => {
      follow = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
    });
    const source = new EventSource(`/api/stream/${repo}/${build}/${main.dataset.stage}/${main.dataset.step}`);
    source.onmessage = (e) => {
      const line = JSON.parse(e.data);
      if (line.pos < next) return;
      next = line.pos + 1;
      queue.push(line);
      schedule();
    };
    source.addEventListener('error', (e) => {
      if (e.data === 'eof') {
        source.close();
        ended = true;
        schedule();
        if (main.dataset.done === 'false' && main.dataset.finished === 'true') window.location.reload();
      } else if (source.readyState === EventSource.CLOSED) {
        state.textContent = 'disconnected';
      }
    });
  }

  // --- statuses -------------------------------------------------------------------------------
  function setStatus(el, status) {
    if (!el || el.dataset.status === status) return;
    el.dataset.status = status;
    el.className = `st st-${status}`;
    el.textContent = status;
  }

  const DONE = ['success', 'failure', 'killed', 'error', 'skipped', 'declined'];
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
