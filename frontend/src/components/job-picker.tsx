// The job selector of the Tasks and Timeline pages: the most recent jobs, and a way to the rest.
import { num } from "../format";
import type { Job } from "../types";
import { usePagedList } from "./paging";
import { Select } from "./ui";

const PAGE = 200;
const MORE = "\u0000more";

/** A select of the latest PAGE jobs; when the cluster has more, its last option says so and loads the
 * next PAGE (the list never ends silently), and a job chosen elsewhere (URL) stays selectable. */
export function JobPicker({ value, onChange, anyLabel }: { value: string; onChange: (v: string) => void; anyLabel: string }) {
  const jobs = usePagedList<Job>("/jobs", {}, PAGE, {}, ["jobs"]);
  const rows = jobs.data?.rows ?? [];
  const ids = rows.flatMap((j) => (j.job_id ? [j.job_id] : []));  // a submission without a driver has no tasks
  if (value && !ids.includes(value)) ids.push(value);
  const options: [string, string][] = [["", anyLabel], ...ids.map((id) => [id, id] as [string, string])];
  if (jobs.data?.next_cursor) options.push([MORE, `… ${num(rows.length)} shown, more exist: load ${PAGE} more`]);
  return <Select label="Job" name="job" value={value} options={options}
                 onChange={(v) => (v === MORE ? jobs.more() : onChange(v))} />;
}
