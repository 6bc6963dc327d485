import { h } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import htm from 'htm';
import type uPlot from 'uplot';
import type { OverviewPoint } from '@llama-orch/contracts';

const html = htm.bind(h);
const HEIGHT = 160;

type Column = (point: OverviewPoint) => number | null;

interface ChartSpec {
  readonly title: string;
  readonly series: readonly { label: string; value: Column; stroke: string; scale: string }[];
  readonly scales: readonly { key: string; label: string; side: 1 | 3 }[];
}

function columns(points: readonly OverviewPoint[], spec: ChartSpec): uPlot.AlignedData {
  return [points.map((p) => p.t / 1000), ...spec.series.map((s) => points.map(s.value))];
}

/** uPlot (the page's largest script) is fetched once the page is up: the first picture does not wait for it. */
let library: Promise<typeof uPlot> | null = null;
const loadUplot = (): Promise<typeof uPlot> => (library ??= import('uplot').then((module) => module.default));

/** One small time-series chart (uPlot) of the last minutes, updated in place as points arrive. */
function Chart(props: { points: readonly OverviewPoint[]; spec: ChartSpec; testid: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props.points);
  latest.current = props.points;
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const { spec } = props;
    let gone = false;
    let destroy = (): void => undefined;
    void loadUplot().then((UPlot) => {
      if (gone) return;
      const created = new UPlot(
        {
          width: Math.max(280, element.clientWidth),
          height: HEIGHT,
          series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.stroke, scale: s.scale, width: 1.5 }))],
          scales: { x: { time: true } },
          axes: [
            {},
            ...spec.scales.map((s) => ({ scale: s.key, label: s.label, side: s.side, grid: { show: s.side === 3 } })),
          ],
          legend: { live: false },
        },
        columns(latest.current, spec),
        element,
      );
      plot.current = created;
      const resize = new ResizeObserver(() =>
        created.setSize({ width: Math.max(280, element.clientWidth), height: HEIGHT }),
      );
      resize.observe(element);
      destroy = () => {
        resize.disconnect();
        created.destroy();
        plot.current = null;
      };
    });
    return () => {
      gone = true;
      destroy();
    };
  }, []);
  useEffect(() => plot.current?.setData(columns(props.points, props.spec)), [props.points]);
  return html`<figure class="chart" data-testid=${props.testid}>
    <figcaption>${props.spec.title}</figcaption>
    <div ref=${box}></div>
  </figure>`;
}

const THROUGHPUT: ChartSpec = {
  title: 'Throughput',
  series: [
    { label: 'tokens/s', value: (p) => p.tokens_per_s, stroke: '#2f6fdf', scale: 'tokens' },
    { label: 'tasks/s', value: (p) => p.tasks_per_s, stroke: '#d9822b', scale: 'tasks' },
  ],
  scales: [
    { key: 'tokens', label: 'tokens/s', side: 3 },
    { key: 'tasks', label: 'tasks/s', side: 1 },
  ],
};

const LATENCY: ChartSpec = {
  title: 'First-token latency',
  series: [
    { label: 'p50 ms', value: (p) => p.first_token_p50_ms, stroke: '#2e9e5b', scale: 'ms' },
    { label: 'p95 ms', value: (p) => p.first_token_p95_ms, stroke: '#c23b3b', scale: 'ms' },
  ],
  scales: [{ key: 'ms', label: 'ms', side: 3 }],
};

export function Charts(props: { points: readonly OverviewPoint[] }) {
  return html`<div class="charts">
    <${Chart} points=${props.points} spec=${THROUGHPUT} testid="chart-throughput" />
    <${Chart} points=${props.points} spec=${LATENCY} testid="chart-latency" />
  </div>`;
}
