// The desk's edition page: move the progress bar from the job's JSON without
// reloading; the page reloads itself once the edition is done (or has failed) to show
// its result.  Without this script the page refreshes every 2 s (its meta refresh).
(() => {
  const job = document.querySelector(".job[data-status-href]");
  if (!job) return;
  const refresh = document.querySelector('meta[http-equiv="refresh"]');
  if (!refresh) return;                      // done already
  refresh.remove();
  const bar = job.querySelector("progress");
  const tick = async () => {
    try {
      const answer = await fetch(job.dataset.statusHref, { headers: { Accept: "application/json" } });
      const state = await answer.json();
      bar.max = state.total || 1;
      bar.value = state.done;
      job.querySelector(".done").textContent = state.done;
      job.querySelector(".total").textContent = state.total;
      if (state.status === "done" || state.status === "failed") {
        window.location.reload();
        return;
      }
    } catch (error) {
      // The service is away for a moment: try again.
    }
    setTimeout(tick, 500);
  };
  setTimeout(tick, 500);
})();
