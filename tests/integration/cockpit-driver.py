#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drives the Cockpit page in headless Chromium for test-cockpit.sh.

    cockpit-driver.py URL WORKDIR SCREENSHOT

WORKDIR holds disk.vhd (analysed, then compacted), slow.vhd (compacted, then
cancelled mid-move; the daemon slows its moves), other.vhd (compacted by
another client: busctl, on the bus of DBUS_SYSTEM_BUS_ADDRESS) and images/
(a folder with a.vhd and sub/b.vhdx for FindImages).  Prints one line per
check; exits 1 with the reason on the first failure, after a screenshot;
77 when Chromium cannot start.
"""
import json
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url, work, shot = sys.argv[1], sys.argv[2], sys.argv[3]
driver = None


def fail(msg):
    print("cockpit-driver: FAIL: " + msg, file=sys.stderr, flush=True)
    if driver:
        try:
            driver.save_screenshot(shot)
            print("screenshot (at the failure): " + shot, file=sys.stderr)
            print("--- page text:\n" + driver.find_element(By.TAG_NAME, "body").text, file=sys.stderr)
            for entry in driver.get_log("browser"):
                print("browser log: %s" % entry, file=sys.stderr)
        except WebDriverException:
            pass
        driver.quit()
    sys.exit(1)


def wait_for(what, fn, secs=60):
    end = time.time() + secs
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except (StaleElementReferenceException, WebDriverException) as e:
            last = e
        time.sleep(0.1)
    fail("timed out after %d s waiting for %s%s" % (secs, what, " (%s)" % last.msg if last else ""))


def by_id(i):
    return driver.find_element(By.ID, i)


def job_rows():
    rows = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, "tr.job"):
        rows[tr.get_attribute("data-job")] = tr
    return rows


def job_row(path):
    return job_rows().get(path)


def row_state(path):
    tr = job_row(path)
    return tr.get_attribute("data-state") if tr else None


def new_job(before, secs=30):
    """The job row that appears, not among before."""
    def find():
        new = [p for p in job_rows() if p not in before]
        return new[0] if new else None
    return wait_for("a new job in the list", find, secs)


def other_client_compact(path):
    """Starts a job as another client (busctl); its object path."""
    out = subprocess.run(["busctl", "--system", "call", "org.vhd.Compact", "/org/vhd/Compact",
                          "org.vhd.Compact.Manager", "Compact", "sa{sv}", path, "0"],
                         capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.startswith("o "):
        fail("busctl Compact %s: %s%s" % (path, out.stdout, out.stderr))
    return json.loads(out.stdout[2:])


opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--user-data-dir=" + os.path.join(work, "chromium-profile"), "--window-size=1400,1800",
          "--no-first-run", "--disable-extensions", "--disable-background-networking"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
try:
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
except WebDriverException as e:
    print("cockpit-driver: SKIP: Chromium does not start: %s" % e.msg, flush=True)
    sys.exit(77)
driver.set_page_load_timeout(60)
driver.get(url)

# The page reached the service.
wait_for("the service's version", lambda: by_id("service").get_attribute("data-ready") == "1")
print("page up: " + by_id("service").text)

# An error as the service words it.
by_id("path").send_keys(os.path.join(work, "missing.vhd"))
by_id("analyze").click()
wait_for("the error banner", lambda: by_id("error").is_displayed())
err = by_id("error-text").text
if not err.startswith("org.freedesktop.DBus.Error.FileNotFound: ") or "missing.vhd" not in err:
    fail("the error banner says %r" % err)
print("error shown: " + err)

# FindImages through a folder added on the page.
by_id("folder").send_keys(os.path.join(work, "images"))
by_id("add-folder").click()
want = sorted(os.path.join(work, "images", n) for n in ("a.vhd", "sub/b.vhdx"))
def found():
    got = sorted(b.get_attribute("data-path") for b in driver.find_elements(By.CSS_SELECTOR, "button.image"))
    return got if got == want else None
wait_for("the folder's disks %r" % want, found)
print("folder lists: %r" % want)
if json.loads(driver.execute_script("return window.localStorage.getItem('vhdcompact.folders')")) != \
        [os.path.join(work, "images")]:
    fail("the folder is not kept in localStorage")
driver.find_elements(By.CSS_SELECTOR, "button.image")[0].click()
if by_id("path").get_attribute("value") != want[0]:
    fail("clicking a found disk did not fill the path field")

# Analyze: per-volume bars, size before -> after.
disk = os.path.join(work, "disk.vhd")
by_id("path").clear()
by_id("path").send_keys(disk)
if by_id("error").is_displayed():
    by_id("error-close").click()
by_id("analyze").click()
wait_for("the analysis", lambda: driver.find_elements(By.ID, "analysis-after"))
if by_id("error").is_displayed():
    fail("Analyze failed: " + by_id("error-text").text)
before = int(by_id("analysis-before").get_attribute("data-bytes"))
after = int(by_id("analysis-after").get_attribute("data-bytes"))
if before != os.stat(disk).st_size or not 0 < after < before:
    fail("analysis: %d -> %d, the file has %d bytes" % (before, after, os.stat(disk).st_size))
vols = driver.find_elements(By.CSS_SELECTOR, "#volumes .volume")
if len(vols) != 1:
    fail("%d volumes shown, expected 1" % len(vols))
segs = {s.get_attribute("class"): s for s in vols[0].find_elements(By.CSS_SELECTOR, ".bar > span")}
if set(segs) != {"used", "free", "reclaimable"}:
    fail("the bar has segments %r" % sorted(segs))
widths = {k: s.size["width"] for k, s in segs.items()}
if not (widths["used"] > 0 and widths["reclaimable"] > 0):
    fail("bar widths %r: used and reclaimable should show" % widths)
print("analysis: %d -> %d bytes; bar widths %r; %s" % (before, after, widths, vols[0].text.splitlines()[0]))

# Compact: progress to 100 %, the new size shown, the file shrunk.
before_jobs = set(job_rows())
by_id("compact").click()
job = new_job(before_jobs)
seen = set()
def done():
    tr = job_row(job)
    if not tr:
        return None
    seen.add(int(tr.find_element(By.CSS_SELECTOR, "progress").get_attribute("value")))
    return tr.get_attribute("data-state") in ("done", "failed", "cancelled") and tr
tr = wait_for("job %s to end" % job, done, 120)
state = tr.get_attribute("data-state")
if state != "done":
    fail("job %s ended %s: %s" % (job, state, tr.text))
wait_for("the progress bar at 100 %",
         lambda: job_row(job).find_element(By.CSS_SELECTOR, "progress").get_attribute("value") == "100")
shown = int(wait_for("the size after", lambda: job_row(job).find_element(By.CSS_SELECTOR, ".size-after"))
            .get_attribute("data-bytes"))
size = os.stat(disk).st_size
if shown != size or size != after or size >= before:
    fail("after the job: page shows %d, the file has %d, Analyze predicted %d, before %d" % (shown, size, after, before))
report = job_row(job).find_element(By.CSS_SELECTOR, ".report").text
print("compacted: %d -> %d bytes (progress values seen %s); report: %s" % (before, size, sorted(seen), report))

# Another client's job shows up.
before_jobs = set(job_rows())
other = other_client_compact(os.path.join(work, "other.vhd"))
tr = wait_for("the other client's job %s" % other,
              lambda: job_row(other) if row_state(other) == "done" else None, 60)
text = tr.text.replace("\n", " | ")
if os.path.join(work, "other.vhd") not in text or \
        tr.find_element(By.CSS_SELECTOR, "progress").get_attribute("value") != "100":
    fail("the other client's job shows %r" % text)
print("other client's job %s: %s" % (other, text))

# Cancel a slowed job mid-move.
by_id("path").clear()
by_id("path").send_keys(os.path.join(work, "slow.vhd"))
before_jobs = set(job_rows())
by_id("compact").click()
job = new_job(before_jobs)
def moving():
    tr = job_row(job)
    if tr and tr.get_attribute("data-state") == "moving":
        rate = tr.find_element(By.CSS_SELECTOR, ".rate").text
        eta = tr.find_element(By.CSS_SELECTOR, ".eta").text
        pct = int(tr.find_element(By.CSS_SELECTOR, "progress").get_attribute("value"))
        if rate and eta and 0 < pct < 100:
            return (rate, eta, pct)
    return None
rate, eta, pct = wait_for("job %s moving with a rate and an ETA" % job, moving, 60)
print("moving: %d %%, rate %s, ETA %s" % (pct, rate, eta))
driver.save_screenshot(shot)
print("screenshot: " + shot)
cancel = wait_for("the Cancel button", lambda: job_row(job).find_element(By.CSS_SELECTOR, "button.cancel"))
cancel.click()
tr = wait_for("job %s to end" % job, lambda: row_state(job) in ("done", "failed", "cancelled") and job_row(job), 60)
if tr.get_attribute("data-state") != "cancelled":
    fail("the cancelled job ended %s: %s" % (tr.get_attribute("data-state"), tr.text))
errtext = tr.find_element(By.CSS_SELECTOR, ".job-error").text
if not errtext.startswith("org.vhd.Compact.Error.Cancelled: "):
    fail("the cancelled job shows %r" % errtext)
print("cancelled: " + errtext)
driver.save_screenshot(shot + ".end.png")
for entry in driver.get_log("browser"):
    if entry.get("level") == "SEVERE" and "vhdcompact" in entry.get("message", ""):
        fail("the browser logged an error: %s" % entry)
driver.quit()
print("cockpit-driver: ok")
