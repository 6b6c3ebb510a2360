/**
 * Renders audits (stack-audit.ts) for people and tools: an aligned table for the terminal, markdown for a pull-request
 * comment, JSON for scripts. Pure and deterministic, so the output can be snapshot-tested.
 */
import { roleLabel } from '../../config/ports';
import type { Check } from './checks';
import type { ExposureChange } from './diff';
import { findingMessage } from './finding';
import type { GroupMatrix, MatrixRow } from './matrix';
import type { PrivacySetting } from './privacy';
import type { StackAudit } from './stack-audit';
import { RULES, ruleById } from './policy';

export type Format = 'table' | 'markdown' | 'json';
export const FORMATS: readonly Format[] = ['table', 'markdown', 'json'];

export interface Report {
  readonly audits: readonly StackAudit[];
  /** Where the stacks came from, e.g. "cdktf.out" or "in-process synthesis". */
  readonly source: string;
  readonly diff?: { readonly against: string; readonly opened: readonly ExposureChange[]; readonly closed: readonly ExposureChange[] };
}

export function violationCount(report: Report): number {
  return report.audits.reduce((n, a) => n + a.findings.length, 0);
}

function ruleCount(a: StackAudit): number {
  return a.groups.reduce((n, g) => n + g.rows.length, 0);
}

function summary(a: StackAudit): string {
  return `${a.environment}: ${ruleCount(a)} security-group rules, ${a.checks.length} resource checks, ${a.findings.length} violation(s), ${a.accepted} accepted exposure(s)`;
}

function groupTitle(g: GroupMatrix): string {
  if (g.role) return `${roleLabel(g.role)} (${g.name})`;
  return g.host === 'default' ? 'VPC default security group' : `security group ${g.name}`;
}

function verdictText(verdict: MatrixRow['verdict'] | Check['verdict']): string {
  return verdict === 'violation' ? 'VIOLATION' : verdict;
}

function describeRow(r: MatrixRow): string {
  return r.planned ? r.description : `${r.description} [not in the port plan]`;
}

const ROW_HEADER = ['direction', 'protocol', 'ports', 'peer', 'description', 'verdict', 'rule'];

function rowCells(r: MatrixRow): string[] {
  return [r.direction, r.protocol, r.ports, r.peer, describeRow(r), verdictText(r.verdict), r.rules.join(', ') || '-'];
}

const CHECK_HEADER = ['resource', 'check', 'verdict', 'rule', 'detail'];

const PRIVACY_HEADER = ['area', 'setting', 'in force', 'verdict', 'rule'];

function privacyCells(p: PrivacySetting): string[] {
  return [p.area, p.setting, p.value, p.verdict === 'violation' ? 'VIOLATION' : p.verdict === 'ok' ? 'ok (required)' : 'reported', p.rule ?? '-'];
}

function checkCells(c: Check): string[] {
  return [c.subject, ruleById(c.rule).title, verdictText(c.verdict), c.rule, c.detail];
}

function justifications(g: GroupMatrix): string[] {
  return [...new Set(g.rows.flatMap((r) => (r.justification ? [r.justification] : [])))];
}

// ---------------------------------------------------------------------------------------------- markdown

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function mdTable(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

function changeRows(changes: readonly ExposureChange[]): string[][] {
  return changes.map((c) => [c.environment, c.host, c.row.direction, c.row.protocol, c.row.ports, c.row.peer, verdictText(c.row.verdict)]);
}

const CHANGE_HEADER = ['environment', 'host', 'direction', 'protocol', 'ports', 'peer', 'verdict'];

export function renderMarkdown(report: Report): string {
  const out: string[] = ['# Security-group audit', '', `Source: ${report.source}.`, ''];
  for (const a of report.audits) out.push(`- ${a.findings.length > 0 ? '❌' : '✅'} ${summary(a)}`);
  for (const a of report.audits) {
    out.push('', `## ${a.environment}`);
    for (const g of a.groups) {
      out.push('', `### ${groupTitle(g)}`, '');
      if (g.rows.length === 0) out.push('No rules: nothing in, nothing out.');
      else out.push(...mdTable(ROW_HEADER, g.rows.map(rowCells)));
      for (const j of justifications(g)) out.push('', `> **Accepted** world-open SIP/RTP, \`sip.worldOpenJustification\`: ${cell(j)}`);
    }
    out.push('', '### Privacy', '', ...mdTable(PRIVACY_HEADER, a.privacy.map(privacyCells)));
    out.push('', '### Resource checks', '', ...mdTable(CHECK_HEADER, a.checks.map(checkCells)));
    if (a.findings.length > 0) out.push('', '### Violations', '', ...a.findings.map((f) => `- \`${f.path}\`: ${cell(findingMessage(f))}`));
  }
  if (report.diff) {
    out.push('', `## Exposure changes against ${report.diff.against}`, '');
    if (report.diff.opened.length === 0 && report.diff.closed.length === 0) out.push('No exposure opened or closed.');
    if (report.diff.opened.length > 0) out.push('**Opened**', '', ...mdTable(CHANGE_HEADER, changeRows(report.diff.opened)), '');
    if (report.diff.closed.length > 0) out.push('**Closed**', '', ...mdTable(CHANGE_HEADER, changeRows(report.diff.closed)));
  }
  out.push(
    '',
    '<details><summary>Policy rules and scanner equivalents</summary>',
    '',
    ...mdTable(
      ['rule', 'title', 'checkov', 'trivy'],
      RULES.map((r) => [r.id, r.title, r.checkov.join(', ') || '-', r.trivy.join(', ') || '-']),
    ),
    '',
    '</details>',
  );
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------- table

function textTable(header: string[], rows: string[][], indent = '  '): string[] {
  const all = [header.map((h) => h.toUpperCase()), ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => `${indent}${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}`.trimEnd());
}

export function renderTable(report: Report): string {
  const out: string[] = [`Security-group audit (source: ${report.source})`];
  for (const a of report.audits) {
    out.push('', `== ${a.environment}`);
    for (const g of a.groups) {
      out.push('', groupTitle(g));
      if (g.rows.length === 0) out.push('  no rules: nothing in, nothing out');
      else out.push(...textTable(ROW_HEADER, g.rows.map(rowCells)));
      for (const j of justifications(g)) out.push(`  accepted by sip.worldOpenJustification: ${j}`);
    }
    out.push('', 'privacy', ...textTable(PRIVACY_HEADER, a.privacy.map(privacyCells)));
    out.push('', 'resource checks', ...textTable(CHECK_HEADER, a.checks.map(checkCells)));
    if (a.findings.length > 0) out.push('', 'violations', ...a.findings.map((f) => `  [${f.path}] ${findingMessage(f)}`));
    out.push('', summary(a));
  }
  if (report.diff) {
    out.push('', `== exposure changes against ${report.diff.against}`);
    if (report.diff.opened.length === 0 && report.diff.closed.length === 0) out.push('  none');
    if (report.diff.opened.length > 0) out.push('opened', ...textTable(CHANGE_HEADER, changeRows(report.diff.opened)));
    if (report.diff.closed.length > 0) out.push('closed', ...textTable(CHANGE_HEADER, changeRows(report.diff.closed)));
  }
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------- json

export function renderJson(report: Report): string {
  const strip = ({ findings: _f, ...rest }: MatrixRow | Check): Omit<MatrixRow | Check, 'findings'> => rest;
  return `${JSON.stringify(
    {
      ok: violationCount(report) === 0,
      source: report.source,
      environments: report.audits.map((a) => ({
        environment: a.environment,
        violations: a.findings.length,
        accepted: a.accepted,
        groups: a.groups.map((g) => ({ ...g, rows: g.rows.map(strip) })),
        privacy: a.privacy,
        checks: a.checks.map(strip),
        findings: a.findings.map((f) => ({ ...f, fix: ruleById(f.rule).fix, message: findingMessage(f) })),
      })),
      diff: report.diff && {
        against: report.diff.against,
        opened: report.diff.opened.map((c) => ({ environment: c.environment, host: c.host, ...strip(c.row) })),
        closed: report.diff.closed.map((c) => ({ environment: c.environment, host: c.host, ...strip(c.row) })),
      },
      policy: RULES,
    },
    null,
    2,
  )}\n`;
}

export function render(report: Report, format: Format): string {
  return format === 'json' ? renderJson(report) : format === 'markdown' ? renderMarkdown(report) : renderTable(report);
}
