/* The Data Engine's operations console: one Alpine.js component over the JSON API.
 *
 * Everything shown comes from the API with the token the operator pasted (kept in
 * sessionStorage, sent as a bearer token). URLs are relative to the page's own location,
 * so a stage prefix (API Gateway's /api) or a custom domain's base path keeps working.
 * Nothing is written to the browser's console: the page never logs what it reads.
 */
(function () {
  "use strict";

  const TOKEN_KEY = "data-engine-console-token";
  const ERASURES_KEY = "data-engine-console-erasures"; // request and job ids only
  // the page is <base>/console (or <base>/console/index.html): the API is <base>
  const API = window.location.pathname.replace(/\/console(\/[^/]*)?\/?$/, "");

  const STATES = [
    "RECEIVED", "NORMALIZED", "INVALID", "QUEUED_FOR_SAP", "NOT_FOR_SAP", "DELIVERED",
    "REJECTED_BY_SAP", "PARKED", "ANONYMIZED", "ERASED",
  ];
  const IN_FLIGHT = ["RECEIVED", "NORMALIZED", "QUEUED_FOR_SAP"];
  const FILE_STATES = ["INVALID", "DELIVERED", "NOT_FOR_SAP", "QUEUED_FOR_SAP", "REJECTED_BY_SAP", "PARKED"];
  const COLORS = {
    RECEIVED: "#6b7280", NORMALIZED: "#0ea5e9", INVALID: "#dc2626", QUEUED_FOR_SAP: "#a855f7",
    NOT_FOR_SAP: "#84cc16", DELIVERED: "#16a34a", REJECTED_BY_SAP: "#ea580c", PARKED: "#f59e0b",
    ANONYMIZED: "#64748b", ERASED: "#111827",
  };
  const PALETTE = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#65a30d", "#dc2626", "#475569"];
  // dead-letter queue -> the route that moves its messages back
  const REPLAYS = {
    "normalize-dlq": "/ingest/replay",
    "sap-dispatch-dlq": "/sap/replay",
    "webhooks-dlq": "/sources/replay",
    "async-failures": "/async-failures/replay",
  };
  const ROLE_DENIED = "your role cannot do this";
  const charts = {}; // uPlot instances, kept outside Alpine's reactive state

  function notAvailable(answer) {
    // an absent route: API Gateway (and `chalice local`) answer 403 "Missing Authentication
    // Token", or with a bearer header "Authorization header requires 'Credential' parameter"
    const message = (answer.data && (answer.data.message || answer.data.Message)) || "";
    return (answer.status === 404 && !(answer.data && answer.data.Code === "NotFoundError"))
      || answer.status === 405
      || (answer.status === 403 && /Missing Authentication Token|requires 'Credential' parameter/i.test(message));
  }

  function hourTimestamps(since, until) {
    const start = new Date(since);
    start.setUTCMinutes(0, 0, 0);
    const end = new Date(until).getTime();
    const hours = [];
    for (let t = start.getTime(); t <= end; t += 3600 * 1000) hours.push(t / 1000);
    return hours;
  }

  function hourKey(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 13); // 2026-11-02T14, as /stats names hours
  }

  function drawChart(id, hours, series) {
    const element = document.getElementById(id);
    if (!element || typeof uPlot === "undefined") return;
    if (charts[id]) charts[id].destroy();
    element.textContent = "";
    const width = Math.max(element.clientWidth || 0, 320);
    charts[id] = new uPlot(
      {
        width: width,
        height: 220,
        scales: { x: { time: true } },
        series: [{}].concat(series.map((s) => ({
          label: s.label, stroke: s.color, width: 2, points: { show: hours.length < 50 },
        }))),
        axes: [{}, { size: 56 }],
        legend: { show: true, live: false },
      },
      [hours].concat(series.map((s) => s.values)),
      element,
    );
  }

  function rememberedErasures() {
    try {
      return JSON.parse(window.sessionStorage.getItem(ERASURES_KEY) || "{}");
    } catch (error) {
      return {};
    }
  }

  document.addEventListener("alpine:init", () => {
    window.Alpine.data("ops", () => ({
      views: [
        { id: "overview", label: "Overview" },
        { id: "documents", label: "Documents" },
        { id: "queues", label: "Queues" },
        { id: "sap", label: "SAP" },
        { id: "files", label: "Files" },
        { id: "gdpr", label: "GDPR" },
        { id: "audit", label: "Audit" },
        { id: "search", label: "Search" },
      ],
      allStates: STATES,
      replays: REPLAYS,
      token: window.sessionStorage.getItem(TOKEN_KEY) || "",
      tokenInput: "",
      signedIn: false,
      signInError: "",
      busy: false,
      stage: "",
      view: "overview",
      notice: { kind: "", text: "" },
      // overview
      windowHours: "24",
      stats: null,
      stateTotals: [],
      statesSeen: [],
      sourceTotals: [],
      // documents
      docQuery: { state: "QUEUED_FOR_SAP", minutes: 15, source: "" },
      stuckMinutes: 15,
      stuck: [],
      documents: [],
      docNext: null,
      docTitle: "",
      doc: null,
      // the rest
      queues: [],
      throttle: null,
      throttleForm: { requests_per_second: null, records_per_second: null },
      files: [],
      filesLoading: false,
      file: null,
      fileIdInput: "",
      erasureInput: "",
      erasureIdInput: "",
      erasureRequests: [],
      erasureJobs: [],
      anonymizationRuns: [],
      policies: null,
      auditEntries: [],
      auditColumns: [],
      auditMessage: "",
      auditPrincipal: "",
      searchInput: "",
      searchMessage: "",
      searchHits: [],

      async init() {
        window.addEventListener("hashchange", () => this.route());
        fetch(API + "/health").then((r) => r.json()).then((h) => { this.stage = h.stage || ""; }).catch(() => {});
        if (this.token) {
          this.signedIn = true;
          this.route();
        }
      },

      // -- the API ------------------------------------------------------------------------
      async call(method, path, body) {
        const headers = { Authorization: "Bearer " + this.token };
        const options = { method: method, headers: headers };
        if (body !== undefined) {
          headers["Content-Type"] = "application/json";
          options.body = JSON.stringify(body);
        }
        let response;
        try {
          response = await fetch(API + path, options);
        } catch (error) {
          return { status: 0, ok: false, data: { Message: "the API cannot be reached" } };
        }
        const text = await response.text();
        let data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch (error) {
          data = { Message: text.slice(0, 200) };
        }
        if (response.status === 401) this.signOut("The API asks for a token again.");
        return { status: response.status, ok: response.ok, data: data };
      },

      explain(answer) {
        const message = answer.data && (answer.data.Message || answer.data.message);
        if (answer.status === 403 && !notAvailable(answer)) return ROLE_DENIED + (message ? " (" + message + ")" : "");
        if (notAvailable(answer)) return "not available on this deployment";
        return "HTTP " + answer.status + (message ? ": " + message : "");
      },

      say(kind, text) {
        this.notice = { kind: kind, text: text };
      },

      // an action the role may or may not allow: its answer, or "your role cannot do this"
      async act(label, method, path, body) {
        this.busy = true;
        const answer = await this.call(method, path, body);
        this.busy = false;
        if (answer.ok) {
          this.say("ok", label + ": HTTP " + answer.status + " " + this.cell(answer.data));
        } else {
          this.say(answer.status === 403 ? "denied" : "error", label + ": " + this.explain(answer));
        }
        return answer;
      },

      async read(path) {
        const answer = await this.call("GET", path);
        if (!answer.ok && answer.status !== 401) this.say(answer.status === 403 ? "denied" : "error", "GET " + path.split("?")[0] + ": " + this.explain(answer));
        return answer;
      },

      // -- signing in and moving around ---------------------------------------------------
      async signIn() {
        this.token = this.tokenInput.trim();
        this.tokenInput = "";
        this.signInError = "";
        if (!this.token) return;
        this.busy = true;
        const answer = await this.call("GET", "/stats");
        this.busy = false;
        if (!answer.ok) {
          this.token = "";
          this.signInError = answer.status === 401 || answer.status === 403
            ? "This token is not accepted (unknown, expired or revoked)."
            : this.explain(answer);
          return;
        }
        window.sessionStorage.setItem(TOKEN_KEY, this.token);
        this.signedIn = true;
        this.route();
      },

      signOut(message) {
        window.sessionStorage.removeItem(TOKEN_KEY);
        window.sessionStorage.removeItem(ERASURES_KEY);
        this.token = "";
        this.signedIn = false;
        this.signInError = typeof message === "string" ? message : "";
      },

      go(hash) {
        if (window.location.hash === "#" + hash) this.route();
        else window.location.hash = hash;
      },

      route() {
        if (!this.signedIn) return;
        const [view, id] = window.location.hash.replace(/^#/, "").split("/");
        this.notice = { kind: "", text: "" };
        const loaders = {
          overview: () => this.loadOverview(),
          documents: () => this.loadStuck(),
          document: () => this.loadDocument(decodeURIComponent(id || "")),
          queues: () => this.loadQueues(),
          sap: () => this.loadSap(),
          files: () => this.loadFiles(),
          file: () => this.loadFile(decodeURIComponent(id || "")),
          gdpr: () => this.loadGdpr(),
          audit: () => this.loadAudit(),
          search: () => {},
        };
        this.view = loaders[view] ? view : "overview";
        (loaders[view] || loaders.overview)();
      },

      // -- overview -----------------------------------------------------------------------
      async loadOverview() {
        const since = new Date(Date.now() - Number(this.windowHours) * 3600 * 1000).toISOString();
        const answer = await this.read("/stats?since=" + encodeURIComponent(since));
        if (!answer.ok) return;
        const stats = answer.data;
        const totals = {};
        const perSource = {};
        for (const row of stats.counts || []) {
          const source = row.source || "(none)";
          perSource[source] = perSource[source] || {};
          for (const [state, count] of Object.entries(row.states || {})) {
            totals[state] = (totals[state] || 0) + count;
            perSource[source][state] = (perSource[source][state] || 0) + count;
          }
        }
        const seen = STATES.filter((s) => s in totals).concat(Object.keys(totals).filter((s) => !STATES.includes(s)));
        this.stats = stats;
        this.statesSeen = seen;
        this.stateTotals = seen.map((state) => ({ state: state, count: totals[state] }));
        this.sourceTotals = Object.keys(perSource).sort().map((source) => ({ source: source, states: perSource[source] }));
        this.$nextTick(() => this.drawOverview());
      },

      drawOverview() {
        const stats = this.stats;
        if (!stats) return;
        const hours = hourTimestamps(stats.since, stats.until);
        const index = {};
        hours.forEach((h, i) => { index[hourKey(h)] = i; });
        const byState = {};
        const bySource = {};
        for (const row of stats.counts || []) {
          const at = index[row.hour];
          if (at === undefined) continue;
          for (const [state, count] of Object.entries(row.states || {})) {
            (byState[state] = byState[state] || hours.map(() => 0))[at] += count;
            if (state === "RECEIVED") {
              const source = row.source || "(none)";
              (bySource[source] = bySource[source] || hours.map(() => 0))[at] += count;
            }
          }
        }
        drawChart("chart-states", hours, this.statesSeen.map((s) => ({ label: s, color: COLORS[s] || "#000", values: byState[s] || hours.map(() => 0) })));
        drawChart("chart-sources", hours, Object.keys(bySource).sort().map((s, i) => ({ label: s, color: PALETTE[i % PALETTE.length], values: bySource[s] })));
      },

      meter(ms) {
        const longest = Math.max(1, ...((this.stats && this.stats.transitions) || []).map((t) => t.p95_ms || 0));
        return Math.round(100 * (ms || 0) / longest) + "%";
      },

      // -- documents ----------------------------------------------------------------------
      async loadStuck() {
        const until = new Date(Date.now() - this.stuckMinutes * 60 * 1000).toISOString();
        const rows = [];
        for (const state of IN_FLIGHT) {
          const answer = await this.read("/documents?state=" + state + "&limit=100&until=" + encodeURIComponent(until));
          if (!answer.ok) return;
          rows.push({ state: state, count: answer.data.documents.length, more: Boolean(answer.data.next_token) });
        }
        this.stuck = rows;
        if (!this.docTitle) await this.loadDocuments();
      },

      showStuck(state) {
        this.docQuery = { state: state, minutes: this.stuckMinutes, source: "" };
        this.loadDocuments();
      },

      async loadDocuments(nextToken) {
        const q = this.docQuery;
        let path = "/documents?state=" + encodeURIComponent(q.state) + "&limit=50";
        if (q.minutes > 0) path += "&until=" + encodeURIComponent(new Date(Date.now() - q.minutes * 60 * 1000).toISOString());
        if (q.source.trim()) path += "&source=" + encodeURIComponent(q.source.trim());
        if (typeof nextToken === "string") path += "&next_token=" + encodeURIComponent(nextToken);
        const answer = await this.read(path);
        if (!answer.ok) return;
        this.documents = typeof nextToken === "string" ? this.documents.concat(answer.data.documents) : answer.data.documents;
        this.docNext = answer.data.next_token;
        this.docTitle = q.state + (q.minutes > 0 ? " for more than " + q.minutes + " minutes" : "") + (q.source.trim() ? " from " + q.source.trim() : "");
      },

      async loadDocument(id) {
        this.doc = null;
        if (!id) return;
        const answer = await this.read("/documents/" + encodeURIComponent(id));
        if (answer.ok) this.doc = answer.data;
      },

      async retryDocument(id) {
        const answer = await this.act("Send document again", "POST", "/documents/" + encodeURIComponent(id) + "/retry");
        if (answer.ok) this.loadDocument(id);
      },

      // -- queues and SAP -----------------------------------------------------------------
      async loadQueues() {
        const answer = await this.read("/queues");
        if (answer.ok) this.queues = answer.data.queues;
      },

      async replay(queue) {
        const answer = await this.act("Replay " + queue, "POST", REPLAYS[queue]);
        if (answer.ok && this.view === "queues") this.loadQueues();
      },

      async loadSap() {
        const answer = await this.read("/sap/throttle");
        if (!answer.ok) return;
        this.throttle = answer.data;
        this.throttleForm = {
          requests_per_second: answer.data.settings.requests_per_second,
          records_per_second: answer.data.settings.records_per_second,
        };
      },

      get throttleFactor() {
        if (!this.throttle) return 1;
        return this.throttle.effective.requests_per_second / (this.throttle.settings.requests_per_second || 1);
      },

      get throttleText() {
        const percent = Math.round(100 * this.throttleFactor);
        return percent >= 100
          ? "Full rate: no 429 or 503 from SAP lately."
          : "Throttled to " + percent + " % of the configured rate after SAP answered 429 or 503; recovering.";
      },

      async changeThrottle() {
        const answer = await this.act("Change the SAP throttle", "PUT", "/sap/throttle", this.throttleForm);
        if (answer.ok) this.throttle = answer.data;
      },

      // -- files --------------------------------------------------------------------------
      async loadFiles() {
        const latest = {};
        this.filesLoading = true;
        const answers = await Promise.all(FILE_STATES.map((state) => this.read("/documents?state=" + state + "&limit=100")));
        this.filesLoading = false;
        for (const answer of answers) {
          if (!answer.ok) return;
          for (const d of answer.data.documents) {
            if (!d.file_id) continue;
            const known = latest[d.file_id];
            if (!known || d.state_at > known.at) latest[d.file_id] = { file_id: d.file_id, source: d.source, at: d.state_at, view: null };
          }
        }
        const files = Object.values(latest).sort((a, b) => (a.at < b.at ? 1 : -1)).slice(0, 15);
        this.files = files;
        await Promise.all(files.map(async (f, i) => {
          const answer = await this.call("GET", "/files/" + encodeURIComponent(f.file_id));
          if (answer.ok) this.files[i].view = answer.data;
        }));
      },

      async loadFile(id) {
        this.file = null;
        if (!id) return;
        const answer = await this.read("/files/" + encodeURIComponent(id));
        if (answer.ok) this.file = answer.data;
      },

      async reprocess(id) {
        const answer = await this.act("Reprocess file", "POST", "/files/" + encodeURIComponent(id) + "/reprocess");
        if (answer.ok) {
          this.say("ok", answer.data.reprocessed
            ? "Reprocessing: the file is split again with the mapping now in force (HTTP " + answer.status + ")."
            : "Left as it is: the file was read with the current mapping version " + answer.data.mapping_version + " (HTTP " + answer.status + ").");
        }
      },

      // -- GDPR ---------------------------------------------------------------------------
      async loadGdpr() {
        this.refreshErasures();
        const runs = await this.read("/gdpr/anonymization-runs");
        if (runs.ok) this.anonymizationRuns = runs.data.runs;
        const policies = await this.read("/gdpr/retention-policies");
        if (policies.ok) this.policies = policies.data;
      },

      remember(kind, id) {
        const kept = rememberedErasures();
        kept[kind] = Array.from(new Set([id].concat(kept[kind] || []))).slice(0, 50);
        window.sessionStorage.setItem(ERASURES_KEY, JSON.stringify(kept));
      },

      async refreshErasures() {
        const kept = rememberedErasures();
        const requests = [];
        for (const id of kept.requests || []) {
          const answer = await this.call("GET", "/gdpr/erasure-requests/" + encodeURIComponent(id));
          requests.push(answer.ok ? answer.data : { request_id: id, status: this.explain(answer) });
        }
        this.erasureRequests = requests;
        const jobs = await this.call("GET", "/gdpr/erasure-jobs");
        if (jobs.ok && Array.isArray(jobs.data && jobs.data.jobs)) this.erasureJobs = jobs.data.jobs;
        else this.erasureJobs = (kept.jobs || []).map((id) => ({ job_id: id }));
      },

      async requestErasure() {
        const value = this.erasureInput.trim();
        if (!value) return;
        const body = value.includes("@") ? { email: value } : { subject_id: value };
        this.erasureInput = ""; // the email leaves the page's state at once
        const answer = await this.act("Request erasure", "POST", "/gdpr/erasure-requests", body);
        if (answer.ok && answer.data.request_id) {
          this.remember("requests", answer.data.request_id);
          this.say("ok", "Erasure requested: " + answer.data.request_id + " (" + (answer.data.status || "PENDING") + ")");
          this.refreshErasures();
        }
      },

      async lookUpErasure(id) {
        if (!id) return;
        const answer = await this.read("/gdpr/erasure-requests/" + encodeURIComponent(id));
        if (answer.ok) {
          this.remember("requests", id);
          this.refreshErasures();
        }
      },

      async startErasureJob() {
        if (!window.confirm("Start an erasure job now? It rewrites the lake and raw files and empties the contacts in SAP.")) return;
        const answer = await this.act("Start an erasure job", "POST", "/gdpr/erasure-jobs");
        if (answer.ok && answer.data.job_id) {
          this.remember("jobs", answer.data.job_id);
          this.refreshErasures();
        }
      },

      async cancelErasureJob(id) {
        if (!window.confirm("Cancel erasure job " + id + "?")) return;
        const answer = await this.act("Cancel erasure job", "POST", "/gdpr/erasure-jobs/" + encodeURIComponent(id) + "/cancel");
        if (answer.ok) this.refreshErasures();
      },

      async anonymizationRun(dryRun) {
        if (!dryRun && !window.confirm("Run anonymization now? Due personal fields are rewritten for good.")) return;
        const answer = await this.act(dryRun ? "Anonymization dry run" : "Anonymization run", "POST", "/gdpr/anonymization-runs" + (dryRun ? "?dry_run=true" : ""));
        if (answer.ok) this.loadGdpr();
      },

      // -- audit --------------------------------------------------------------------------
      async loadAudit() {
        this.auditMessage = "";
        let path = "/audit";
        if (this.auditPrincipal.trim()) path += "?principal=" + encodeURIComponent(this.auditPrincipal.trim());
        const answer = await this.call("GET", path);
        if (!answer.ok) {
          this.auditEntries = [];
          this.auditMessage = notAvailable(answer)
            ? "The audit log is not available on this deployment."
            : answer.status === 403 ? "The audit log: " + ROLE_DENIED + "." : this.explain(answer);
          return;
        }
        const entries = Array.isArray(answer.data) ? answer.data : (answer.data.entries || answer.data.items || []);
        const preferred = ["at", "time", "principal", "role", "route", "targets", "outcome", "status", "request_id"];
        const keys = new Set();
        entries.slice(0, 50).forEach((e) => Object.keys(e).forEach((k) => keys.add(k)));
        this.auditColumns = preferred.filter((k) => keys.has(k)).concat([...keys].filter((k) => !preferred.includes(k)));
        this.auditEntries = entries;
        if (!entries.length) this.auditMessage = "No entries in this window.";
      },

      // -- search -------------------------------------------------------------------------
      async search() {
        const query = this.searchInput.trim();
        this.searchHits = [];
        this.searchMessage = "";
        if (!query) return;
        if (query.includes("@")) {
          this.searchInput = ""; // an email is not kept in the page
          const answer = await this.call("GET", "/subjects?email=" + encodeURIComponent(query));
          if (answer.ok) {
            const documents = answer.data.documents || [];
            this.searchHits = [{ kind: "subject", id: answer.data.subject_id || "", title: "Subject " + (answer.data.subject_id || "") + ": " + documents.length + " documents", documents: documents }];
          } else {
            this.searchMessage = notAvailable(answer)
              ? "Looking up an email is not available on this deployment."
              : answer.status === 403 ? "Looking up an email: " + ROLE_DENIED + " (it needs the privacy role)." : this.explain(answer);
          }
          return;
        }
        const id = encodeURIComponent(query);
        const [documentAnswer, fileAnswer, subjectAnswer] = await Promise.all([
          this.call("GET", "/documents/" + id),
          this.call("GET", "/files/" + id),
          this.call("GET", "/subjects/" + id + "/documents"),
        ]);
        const hits = [];
        if (documentAnswer.ok) hits.push({ kind: "document", id: query, title: "Document (" + documentAnswer.data.state + ")", link: "#document/" + id });
        if (fileAnswer.ok) hits.push({ kind: "file", id: query, title: "File (" + fileAnswer.data.documents + " documents)", link: "#file/" + id });
        if (subjectAnswer.ok && (subjectAnswer.data.documents || []).length) {
          hits.push({ kind: "subject", id: query, title: "Subject: " + subjectAnswer.data.documents.length + " documents", documents: subjectAnswer.data.documents });
        }
        this.searchHits = hits;
        const denied = [documentAnswer, fileAnswer, subjectAnswer].some((a) => a.status === 403);
        if (!hits.length) this.searchMessage = denied ? ROLE_DENIED : "Nothing found for this id.";
      },

      // -- formatting ---------------------------------------------------------------------
      number(value) {
        return typeof value === "number" ? value.toLocaleString("en") : String(value ?? "");
      },
      duration(ms) {
        if (ms === null || ms === undefined) return "–";
        if (ms < 1000) return Math.round(ms) + " ms";
        if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
        return (ms / 60000).toFixed(1) + " min";
      },
      shortTime(iso) {
        return iso ? String(iso).replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
      },
      short(id) {
        return id ? (id.length > 16 ? id.slice(0, 16) + "…" : id) : "";
      },
      statesText(states) {
        return Object.entries(states || {}).map(([s, n]) => s + " " + n).join(", ");
      },
      pretty(value) {
        return value === null || value === undefined ? "" : JSON.stringify(value, null, 2);
      },
      cell(value) {
        if (value === null || value === undefined) return "";
        return typeof value === "object" ? JSON.stringify(value) : String(value);
      },
    }));
  });
})();
