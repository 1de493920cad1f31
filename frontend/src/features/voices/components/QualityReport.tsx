import { Icon } from "@/components/Icon";
import { formatNumber } from "@/lib/format";
import type { QualityReport as Report } from "@/lib/models";

function verdict(report: Report): { tone: "success" | "warning"; text: string } {
  return report.warnings.length === 0
    ? { tone: "success", text: "Great recording — no problems found." }
    : { tone: "warning", text: "Usable, with advice to get a better voice:" };
}

export function QualityReport({ report }: { report: Report }) {
  const summary = verdict(report);
  const metrics = [
    {
      label: "Speech",
      value: formatNumber(report.speech_seconds, 1, " s"),
      hint: "20 s or more is best",
    },
    {
      label: "Signal-to-noise",
      value: formatNumber(report.snr_db, 1, " dB"),
      hint:
        report.noise_reduced && report.snr_db_before != null
          ? `cleaned from ${formatNumber(report.snr_db_before, 1, " dB")}`
          : "higher is cleaner",
    },
    {
      label: "Clipping",
      value: formatNumber(report.clipping_ratio * 100, 2, " %"),
      hint: "should be near 0",
    },
    {
      label: "Loudness",
      value: formatNumber(report.loudness_lufs, 1, " LUFS"),
      hint: "after levelling",
    },
  ];
  return (
    <section className="quality-report" aria-label="Quality report" data-testid="quality-report">
      <p className={`alert alert-${summary.tone}`}>{summary.text}</p>
      <dl className="metrics">
        {metrics.map((metric) => (
          <div key={metric.label} className="metric">
            <dt>{metric.label}</dt>
            <dd>{metric.value}</dd>
            <small>{metric.hint}</small>
          </div>
        ))}
      </dl>
      {report.warnings.length > 0 && (
        <ul className="warnings">
          {report.warnings.map((warning) => (
            <li key={warning.code}>
              <Icon name="alert" size={16} /> {warning.message}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
