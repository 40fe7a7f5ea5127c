// uPlot time-series chart: drag to zoom (x), double-click to reset; live data keeps the zoom.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface SeriesDef { label: string; color: string; fill?: boolean; dash?: number[]; width?: number }

export const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#db2777", "#65a30d",
  "#7c3aed", "#ea580c"];

/** What the chart holds, on its element (data-x-min, data-x-max, data-points): for tests and for
 * anyone inspecting the page, since a canvas cannot be read back. */
function describe(host: HTMLDivElement | null, data: (number | null)[][]): void {
  if (!host) return;
  const xs = (data[0] ?? []) as number[];
  const points = data.slice(1).reduce((n, ys) => n + ys.filter((y) => y !== null && y !== undefined).length, 0);
  host.dataset.xMin = xs.length ? String(xs[0]) : "";
  host.dataset.xMax = xs.length ? String(xs[xs.length - 1]) : "";
  host.dataset.points = String(points);
}

/** Extra drawing and pointer hooks (the distribution heatmap): `underlay` paints on the plot after
 * the axes and before the series; `onCursor` follows the pointer; `onClick` is a click that was not
 * a drag-to-zoom. Read from a ref, so they always see the caller's latest data. */
export interface ChartHooks {
  underlay?: (u: uPlot) => void;
  onCursor?: (u: uPlot) => void;
  onClick?: (u: uPlot) => void;
}

const CLICK_SLOP_PX = 4;

export function TimeChart(props: { data: (number | null)[][]; series: SeriesDef[]; height?: number;
                                   fmt?: (v: number) => string; yMax?: number; emptyTop?: number; testid?: string;
                                   showPoints?: boolean; hooks?: ChartHooks }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoomed = useRef(false);
  const hooks = useRef<ChartHooks>({});
  hooks.current = props.hooks ?? {};
  const key = props.series.map((s) => s.label + (s.dash ? "-" : "")).join("|");

  useEffect(() => {
    const host = el.current!;
    const fmt = props.fmt ?? ((v: number) => String(v));
    const opts: uPlot.Options = {
      width: Math.max(200, host.clientWidth),
      height: props.height ?? 180,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true }, y: props.yMax !== undefined ? { range: [0, props.yMax] } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : props.emptyTop ?? 1] } },
      axes: [
        { stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" } },
        { stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" }, size: 78,
          values: (_u, vals) => vals.map((v) => (v === null ? "" : fmt(v))) },
      ],
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label, stroke: s.color, width: s.width ?? 1.5, fill: s.fill ? s.color + "22" : undefined, dash: s.dash,
          value: (_u: uPlot, v: number | null) => (v === null ? "–" : fmt(v)), points: { show: props.showPoints ?? false },
        })),
      ],
      hooks: {
        setSelect: [() => { zoomed.current = true; }],
        drawAxes: [(u) => hooks.current.underlay?.(u)],
        setCursor: [(u) => hooks.current.onCursor?.(u)],
      },
    };
    const u = new uPlot(opts, props.data as uPlot.AlignedData, host);
    plot.current = u;
    let down: [number, number] | null = null;
    u.over.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
    u.over.addEventListener("click", (e) => {
      if (down && Math.abs(e.clientX - down[0]) <= CLICK_SLOP_PX && Math.abs(e.clientY - down[1]) <= CLICK_SLOP_PX) hooks.current.onClick?.(u);
      down = null;
    });
    host.ondblclick = () => { zoomed.current = false; u.setData(u.data, true); };
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, host.clientWidth), height: props.height ?? 180 }));
    ro.observe(host);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
  }, [key, props.height, props.yMax, props.showPoints]);

  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData, !zoomed.current);
    describe(el.current, props.data);
  }, [props.data]);

  return <div class="chart" ref={el} data-testid={props.testid} />;
}
