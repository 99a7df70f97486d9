/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vhdcompact Cockpit page.
 *
 * Design note.  The page is a thin client of the D-Bus service
 * org.vhd.Compact (vhd-compactd; dbus/org.vhd.Compact.xml is the contract,
 * org.vhd.Compact(5) its manual) on the system bus, reached through
 * cockpit.dbus() from ../base1/cockpit.js and nothing else: no spawn, no
 * file channel, no network fetch, no build step.  Everything it shows or
 * does goes through the service, which authorises every call (root, or
 * polkit action org.vhd.compact); the page asks Cockpit for its
 * administrative access ("superuser": "try"), so that an administrator's
 * session calls as root, and a limited session gets the service's own
 * AccessDenied, shown as such.
 *
 *   - Disk: a path typed in, or picked from the disks that
 *     Manager.FindImages finds under the folders the admin added (the
 *     folder list is kept in this browser's localStorage: the service keeps
 *     no configuration for it).
 *   - Analyze: Manager.Analyze, a dry run; its report gives the size before
 *     and after, and per volume ("volumes", aa{sv}) a bar of used, free and
 *     reclaimable space.
 *   - Compact: Manager.Compact with the mode chosen; the new Job object
 *     then shows State, Progress, Rate and ExpectedEndTime, live, and
 *     finally its Report.  Cancel calls Job.Cancel.
 *   - Jobs: every Job object under /org/vhd/Compact (the service's
 *     ObjectManager, through cockpit's proxies), other clients' jobs
 *     included.  The service sends each change of a job's properties to
 *     the connection that started it and only State to everyone else, so
 *     while a job runs the page also reads its properties once a second
 *     (Properties.GetAll): jobs started by vhdctl or another page move too.
 *
 * Errors are shown as the service words them: the D-Bus error name and its
 * message (e.g. "org.vhd.Compact.Error.InUse: ..."), or a Cockpit problem
 * code and message when the bus cannot be reached; never an exception's
 * stack.  Text from the service is put in the page with textContent only.
 */
"use strict";

(function () {
    const SERVICE = "org.vhd.Compact";
    const MANAGER_PATH = "/org/vhd/Compact";
    const MANAGER = "org.vhd.Compact.Manager";
    const JOB = "org.vhd.Compact.Job";
    const PROPS = "org.freedesktop.DBus.Properties";
    const FOLDERS_KEY = "vhdcompact.folders";
    const ACTIVE = ["queued", "attaching", "scanning", "moving", "truncating"];
    /* Analyze may wait queued behind other jobs, and reads the whole disk. */
    const ANALYZE_TIMEOUT_MS = 3600 * 1000;

    let client = null;
    const jobs = new Map();     /* object path -> { props } */
    let pollTimer = null;

    function $(id) {
        return document.getElementById(id);
    }

    function el(tag, attrs, text) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {}))
            e.setAttribute(k, v);
        if (text !== undefined && text !== null)
            e.textContent = String(text);
        return e;
    }

    /* A variant {t, v} as cockpit.dbus gives it, or a plain value. */
    function unv(x) {
        return x !== null && typeof x === "object" && "t" in x && "v" in x ? x.v : x;
    }

    function formatBytes(n) {
        const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let v = Number(n) || 0;
        let i = 0;
        while (v >= 1024 && i < units.length - 1) {
            v /= 1024;
            i++;
        }
        return i === 0 ? v + " bytes" : v.toFixed(1) + " " + units[i];
    }

    function formatDuration(s) {
        s = Math.max(0, Math.round(s));
        const h = Math.floor(s / 3600);
        const m = Math.floor((s % 3600) / 60);
        const sec = s % 60;
        if (h > 0)
            return h + " h " + m + " min";
        if (m > 0)
            return m + " min " + sec + " s";
        return sec + " s";
    }

    /* The service's words: "name: message". */
    function describeError(ex) {
        if (ex && typeof ex === "object") {
            const name = ex.name && ex.name !== "Error" ? ex.name : ex.problem || "";
            const message = ex.message || "";
            if (name && message)
                return name + ": " + message;
            if (name || message)
                return name || message;
        }
        return String(ex);
    }

    function showError(ex) {
        $("error-text").textContent = describeError(ex);
        $("error").hidden = false;
    }

    function clearError() {
        $("error").hidden = true;
        $("error-text").textContent = "";
    }

    function options(mode) {
        return { mode: cockpit.variant("s", mode) };
    }

    function currentPath() {
        return $("path").value.trim();
    }

    /* --- folders and FindImages --- */

    function loadFolders() {
        try {
            const v = JSON.parse(window.localStorage.getItem(FOLDERS_KEY) || "[]");
            return Array.isArray(v) ? v.filter(f => typeof f === "string") : [];
        } catch (e) {
            return [];
        }
    }

    function saveFolders(list) {
        window.localStorage.setItem(FOLDERS_KEY, JSON.stringify(list));
    }

    function renderFolders() {
        const ul = $("folders");
        ul.textContent = "";
        for (const folder of loadFolders()) {
            const li = el("li", { class: "folder", "data-folder": folder });
            li.appendChild(el("span", { class: "folder-name" }, folder));
            const rm = el("button", { type: "button", class: "link remove-folder" }, "Remove");
            rm.addEventListener("click", () => {
                saveFolders(loadFolders().filter(f => f !== folder));
                renderFolders();
            });
            li.appendChild(rm);
            const images = el("ul", { class: "images plain" });
            images.appendChild(el("li", { class: "muted" }, "Looking for disks…"));
            li.appendChild(images);
            ul.appendChild(li);
            client.call(MANAGER_PATH, MANAGER, "FindImages", [folder, {}], { type: "sa{sv}" })
                    .then(reply => {
                        const [paths, truncated] = reply;
                        images.textContent = "";
                        if (paths.length === 0)
                            images.appendChild(el("li", { class: "muted" }, "No VHD or VHDX file found."));
                        for (const p of paths) {
                            const item = el("li");
                            const b = el("button", { type: "button", class: "link image", "data-path": p }, p);
                            b.addEventListener("click", () => {
                                $("path").value = p;
                                clearError();
                            });
                            item.appendChild(b);
                            images.appendChild(item);
                        }
                        if (truncated)
                            images.appendChild(el("li", { class: "muted" },
                                                  "The search stopped at its limits (depth, files): some disks may be missing."));
                    })
                    .catch(ex => {
                        images.textContent = "";
                        images.appendChild(el("li", { class: "error folder-error" }, describeError(ex)));
                    });
        }
    }

    function addFolder() {
        const folder = $("folder").value.trim();
        if (!folder)
            return;
        const list = loadFolders();
        if (!list.includes(folder)) {
            list.push(folder);
            saveFolders(list);
        }
        $("folder").value = "";
        renderFolders();
    }

    /* --- Analyze --- */

    function volumeBar(v) {
        const size = Number(unv(v.size)) || 0;
        const used = Number(unv(v.used)) || 0;
        const free = Number(unv(v.free)) || 0;
        const reclaimable = Math.min(Number(unv(v.reclaimable)) || 0, size);
        const freeRest = Math.max(0, free - reclaimable);
        const bar = el("div", { class: "bar", role: "img" });
        const pct = x => (size > 0 ? Math.max(0, Math.min(100, (100 * x) / size)) : 0);
        let left = 100;
        for (const [cls, bytes] of [["used", used], ["free", freeRest], ["reclaimable", reclaimable]]) {
            const w = Math.min(left, pct(bytes));
            left -= w;
            const seg = el("span", { class: cls, "data-bytes": String(bytes), title: cls + ": " + formatBytes(bytes) });
            seg.style.width = w + "%";
            bar.appendChild(seg);
        }
        bar.setAttribute("aria-label", "used " + formatBytes(used) + ", free " + formatBytes(free) +
                         ", reclaimable " + formatBytes(reclaimable) + " of " + formatBytes(size));
        return bar;
    }

    function renderAnalysis(path, report) {
        const r = {};
        for (const [k, v] of Object.entries(report))
            r[k] = unv(v);
        const before = Number(r["size-before"]) || 0;
        const after = Number(r["size-after"]) || 0;
        const summary = $("analysis-summary");
        summary.textContent = "";
        summary.appendChild(el("span", { class: "analysis-path" }, path + ": "));
        summary.appendChild(el("span", { id: "analysis-before", "data-bytes": String(before) }, formatBytes(before)));
        summary.appendChild(document.createTextNode(" → "));
        summary.appendChild(el("span", { id: "analysis-after", "data-bytes": String(after) }, formatBytes(after)));
        summary.appendChild(document.createTextNode(
            " (mode " + r.mode + "; blocks: " + r["blocks-allocated"] + " allocated, " +
            r["blocks-dropped-fs"] + " free in the file system, " + r["blocks-dropped-zero"] + " zero, " +
            r["blocks-moved"] + " to move)"));
        const box = $("volumes");
        box.textContent = "";
        const vols = Array.isArray(r.volumes) ? r.volumes : [];
        if (vols.length === 0)
            box.appendChild(el("p", { class: "muted" },
                               r.mode === "zero" ? "Mode zero reads no file system." : "No volume was found."));
        for (const v of vols) {
            const get = k => unv(v[k]);
            const div = el("div", { class: "volume", "data-partition": String(get("partition")) });
            const part = get("partition") ? "Partition " + get("partition") : "Whole disk";
            const fs = get("filesystem") || "no recognised file system";
            let label = part + " · " + fs + " · " + formatBytes(get("size")) + " at " + formatBytes(get("start"));
            if (get("cluster-size"))
                label += " · used " + formatBytes(get("used")) + ", free " + formatBytes(get("free")) +
                    ", reclaimable " + formatBytes(get("reclaimable"));
            if (get("cluster-size") && !get("clean"))
                label += " · not cleanly shut down";
            div.appendChild(el("div", { class: "volume-label" }, label));
            div.appendChild(volumeBar(v));
            if (get("note"))
                div.appendChild(el("div", { class: "muted note" }, get("note")));
            box.appendChild(div);
        }
        $("analysis-section").hidden = false;
    }

    /* The disk to work on, or null (and the page says why). */
    function chosenPath() {
        const path = currentPath();
        clearError();
        if (!path)
            showError({ name: "", message: "Give the path of a VHD or VHDX file." });
        return path || null;
    }

    function analyze() {
        const path = chosenPath();
        const mode = $("mode").value;
        if (!path)
            return;
        $("analyze").disabled = true;
        $("analysis-summary").textContent = "Analyzing " + path + "…";
        $("volumes").textContent = "";
        $("analysis-section").hidden = false;
        client.call(MANAGER_PATH, MANAGER, "Analyze", [path, options(mode)],
                    { type: "sa{sv}", timeout: ANALYZE_TIMEOUT_MS })
                .then(reply => renderAnalysis(path, reply[0]))
                .catch(ex => {
                    $("analysis-section").hidden = true;
                    showError(ex);
                })
                .finally(() => {
                    $("analyze").disabled = false;
                });
    }

    /* --- Compact and jobs --- */

    function compact() {
        const path = chosenPath();
        const mode = $("mode").value;
        if (!path)
            return;
        client.call(MANAGER_PATH, MANAGER, "Compact", [path, options(mode)], { type: "sa{sv}" })
                .then(reply => refreshJob(reply[0]))
                .catch(showError);
    }

    function cancelJob(path) {
        client.call(path, JOB, "Cancel", [], { type: "" }).catch(showError);
    }

    function jobNumber(path) {
        return path.substring(path.lastIndexOf("/") + 1);
    }

    function updateJob(path, props) {
        const j = jobs.get(path) || { props: {} };
        for (const [k, v] of Object.entries(props || {}))
            j.props[k] = unv(v);
        jobs.set(path, j);
        renderJobs();
        schedulePoll();
    }

    function refreshJob(path) {
        return client.call(path, PROPS, "GetAll", [JOB], { type: "s" })
                .then(reply => updateJob(path, reply[0]))
                .catch(ex => {
                    /* The object went (keep-finished): forget it. */
                    if (ex && ex.name === "org.freedesktop.DBus.Error.UnknownObject") {
                        jobs.delete(path);
                        renderJobs();
                    }
                });
    }

    function isActive(j) {
        return ACTIVE.includes(j.props.State);
    }

    function schedulePoll() {
        const any = Array.from(jobs.values()).some(isActive);
        if (any && !pollTimer)
            pollTimer = window.setInterval(() => {
                for (const [path, j] of jobs)
                    if (isActive(j))
                        refreshJob(path);
            }, 1000);
        else if (!any && pollTimer) {
            window.clearInterval(pollTimer);
            pollTimer = null;
        }
    }

    function reportText(rep) {
        if (!rep || Object.keys(rep).length === 0)
            return "";
        const r = {};
        for (const [k, v] of Object.entries(rep))
            r[k] = unv(v);
        return formatBytes(r["size-before"]) + " → " + formatBytes(r["size-after"]) + "; blocks: " +
            r["blocks-dropped-fs"] + " free in the file system and " + r["blocks-dropped-zero"] +
            " zero dropped, " + r["blocks-moved"] + " moved (" + formatBytes(r["bytes-moved"]) + ")";
    }

    /* One row per job, made once and updated in place, so that a button
     * stays the same element while the job runs (a click is never lost to a
     * redraw). */
    const rows = new Map();     /* object path -> { tr, cells, cancel } */

    function makeRow(path) {
        const tr = el("tr", { class: "job", "data-job": path });
        const cells = {};
        for (const name of ["id", "path", "mode", "state", "progress", "rate", "eta", "size", "actions"]) {
            cells[name] = el("td", { class: name === "progress" ? "progress-cell" : name });
            tr.appendChild(cells[name]);
        }
        cells.id.textContent = jobNumber(path);
        const bar = el("progress", { class: "job-progress", max: "100", value: "0" });
        const pct = el("span", { class: "percent" });
        cells.progress.appendChild(bar);
        cells.progress.appendChild(pct);
        const cancel = el("button", { type: "button", class: "cancel" }, "Cancel");
        cancel.addEventListener("click", () => cancelJob(path));
        cells.actions.appendChild(cancel);
        const row = { tr, cells, bar, pct, cancel };
        rows.set(path, row);
        return row;
    }

    function fillRow(row, p) {
        const state = p.State || "";
        const active = isActive({ props: p });
        const c = row.cells;
        row.tr.setAttribute("data-state", state);
        c.path.textContent = p.Path || "(another user's job)";
        c.mode.textContent = p.Mode || "";
        c.state.className = "state state-" + state;
        c.state.textContent = state;
        if (p.ErrorName || p.Error)
            c.state.appendChild(el("div", { class: "job-error" },
                                   (p.ErrorName ? p.ErrorName + ": " : "") + (p.Error || "")));
        const percent = Math.round((Number(p.Progress) || 0) * 100);
        row.bar.setAttribute("value", String(percent));
        row.bar.value = percent;
        row.pct.textContent = " " + percent + " %";
        const rate = Number(p.Rate) || 0;
        c.rate.textContent = active && rate ? formatBytes(rate) + "/s" : "";
        const end = Number(p.ExpectedEndTime) || 0;
        c.eta.textContent = active && end ? formatDuration(end / 1e6 - Date.now() / 1000) : "";
        c.size.textContent = "";
        if (p.SizeBefore)
            c.size.appendChild(el("span", { class: "size-before", "data-bytes": String(p.SizeBefore) },
                                  formatBytes(p.SizeBefore)));
        if (p.SizeAfter) {
            c.size.appendChild(document.createTextNode(" → "));
            c.size.appendChild(el("span", { class: "size-after", "data-bytes": String(p.SizeAfter) },
                                  formatBytes(p.SizeAfter)));
        }
        const rep = reportText(p.Report);
        if (state === "done" && rep)
            c.size.appendChild(el("div", { class: "report" }, rep));
        row.cancel.hidden = !active;
    }

    function renderJobs() {
        const body = $("jobs-body");
        for (const [path, row] of rows)
            if (!jobs.has(path)) {
                row.tr.remove();
                rows.delete(path);
            }
        const paths = Array.from(jobs.keys()).sort((a, b) => Number(jobNumber(b)) - Number(jobNumber(a)));
        $("no-jobs").hidden = paths.length > 0;
        let prev = null;
        for (const path of paths) {
            const row = rows.get(path) || makeRow(path);
            fillRow(row, jobs.get(path).props);
            /* Newest first; moved only when out of place. */
            const want = prev ? prev.nextSibling : body.firstChild;
            if (want !== row.tr)
                body.insertBefore(row.tr, want);
            prev = row.tr;
        }
    }

    function watchJobs() {
        /* Signals to everyone carry State alone and the other properties
         * as empty values (the service's "who sees what"): take State from
         * them and read the rest as this caller may see it. */
        const proxies = client.proxies(JOB, MANAGER_PATH);
        const onProxy = (ev, proxy) => {
            if (proxy.data.State)
                updateJob(proxy.path, { State: proxy.data.State });
            refreshJob(proxy.path);
        };
        proxies.addEventListener("added", onProxy);
        proxies.addEventListener("changed", onProxy);
        proxies.addEventListener("removed", (ev, proxy) => {
            jobs.delete(proxy.path);
            renderJobs();
        });
        /* A job's Completed comes to the connection that started it. */
        client.subscribe({ interface: JOB, member: "Completed" }, path => refreshJob(path));
        client.call(MANAGER_PATH, MANAGER, "ListJobs", [], { type: "" })
                .then(reply => reply[0].forEach(refreshJob))
                .catch(showError);
    }

    function init() {
        client = cockpit.dbus(SERVICE, { bus: "system", superuser: "try" });
        client.addEventListener("close", (ev, options) => {
            $("service").textContent = "Disconnected from " + SERVICE + ": " + cockpit.message(options);
        });
        $("error-close").addEventListener("click", clearError);
        $("analyze").addEventListener("click", analyze);
        $("compact").addEventListener("click", compact);
        $("add-folder").addEventListener("click", addFolder);
        $("refresh-folders").addEventListener("click", renderFolders);
        $("folder").addEventListener("keydown", ev => {
            if (ev.key === "Enter")
                addFolder();
        });
        client.call(MANAGER_PATH, PROPS, "Get", [MANAGER, "Version"], { type: "ss" })
                .then(reply => {
                    $("service").textContent = "vhd-compactd " + unv(reply[0]);
                    $("service").setAttribute("data-ready", "1");
                })
                .catch(ex => {
                    $("service").textContent = "The service " + SERVICE + " cannot be reached.";
                    showError(ex);
                });
        renderFolders();
        watchJobs();
    }

    document.addEventListener("DOMContentLoaded", init);
}());
