// The dashboard's client script: draws the charts whose data the page carries (Chart.js, served by this
// process) and follows running simulations. Everything works without it but the charts and live progress.
(() => {
  const COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"];

  function draw(canvas) {
    const spec = JSON.parse(document.getElementById(`${canvas.id}-data`).textContent);
    const percent = (v) => `${Math.round(v * 1000) / 10} %`;
    const labels =
      spec.type === "line"
        ? spec.labels.map((l) => {
            const d = new Date(l);
            return spec.granularity === "hour"
              ? `${d.toISOString().slice(5, 10)} ${d.toISOString().slice(11, 16)}`
              : d.toISOString().slice(0, 10);
          })
        : spec.labels;
    // A single period draws as bars (a line needs two points).
    const type = spec.type === "line" && labels.length < 2 ? "bar" : spec.type;
    new Chart(canvas, {
      type,
      data: {
        labels,
        datasets: spec.series.map((s, i) => ({
          label: s.label,
          data: s.data,
          borderColor: COLORS[i % COLORS.length],
          backgroundColor: type === "line" ? `${COLORS[i % COLORS.length]}55` : COLORS[i % COLORS.length],
          fill: type === "line" && spec.stacked ? (i === 0 ? "origin" : "-1") : false,
          pointRadius: type === "line" ? 0 : undefined,
          tension: 0.2,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: {
            stacked: !!spec.stacked,
            min: 0,
            max: spec.stacked ? 1 : undefined,
            title: { display: true, text: spec.yLabel },
            ticks: spec.percent ? { callback: percent } : {},
          },
          x: { stacked: !!spec.stacked },
        },
        plugins: {
          tooltip: spec.percent ? { callbacks: { label: (c) => `${c.dataset.label}: ${percent(c.parsed.y)}` } } : {},
        },
      },
    });
  }

  function follow(row) {
    const id = row.dataset.simulation;
    const tick = async () => {
      try {
        const r = await fetch(`/ui/api/simulations/${id}`, { credentials: "same-origin" });
        if (!r.ok) return;
        const s = await r.json();
        row.dataset.status = s.status;
        const bar = row.querySelector("progress");
        bar.max = s.progress.repetitions;
        bar.value = s.progress.repetitionsDone;
        row.querySelector("[data-col=progress]").textContent =
          `${s.progress.repetitionsDone}/${s.progress.repetitions}`;
        const badge = row.querySelector("[data-col=status] .badge");
        badge.textContent = s.status;
        badge.className = `badge ${s.status}`;
        if (s.status === "done") row.querySelector("[data-col=report]").hidden = false;
        if (s.status !== "running") {
          for (const f of row.querySelectorAll("form[action$='/cancel']")) f.remove();
          return;
        }
      } catch {
        // Try again at the next tick.
      }
      setTimeout(tick, 1000);
    };
    setTimeout(tick, 500);
  }

  window.addEventListener("load", () => {
    if (window.Chart) for (const c of document.querySelectorAll("canvas[data-chart]")) draw(c);
    for (const row of document.querySelectorAll("tr[data-simulation][data-status=running]")) follow(row);
    document.body.dataset.rendered = "yes";
  });
})();
