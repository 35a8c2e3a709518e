/** `hsync verify`: compare an application's copy of a tenant with the source (docs/VERIFY.md). */
import { RESOURCES, type VerificationView } from '@historical-sync/contracts';
import { z } from 'zod';
import { appRef, defineCommand, printJson, printLines, tenantId } from '../command';

const resourceList = z
  .string()
  .transform((value) => value.split(',').map((r) => r.trim()))
  .pipe(z.array(z.enum(RESOURCES)).min(1));

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: "compare an application's copy of a tenant with the source; exit 1 when they differ",
  usage: 'verify <tenantId> <app> [--resources credits,organizations,memberships] [--repair]',
  details: [
    'Compares digests of id ranges of what the application holds with the source, splitting',
    'the ranges that differ down to a few hundred rows, then compares those rows one by one.',
    'Prints, per resource, the rows checked and the rows missing, stale and ghost (held by the',
    "application but not active at the source). The application must run the consumer SDK's",
    'verify responder (docs/VERIFY.md).',
    '',
    '  --resources LIST   comma-separated resources to compare (default: all)',
    '  --repair           then repair what differs: a run (trigger verify) publishes exactly the',
    '                     differing rows, and the application forgets rows the source never had',
  ],
  positionals: ['tenantId', 'app'],
  options: { resources: { type: 'string' }, repair: { type: 'boolean' } },
  schema: z.object({
    tenantId,
    app: appRef,
    resources: resourceList.optional(),
    repair: z.boolean().default(false),
  }),
  run: async (context, args) => {
    const report = await context.client.call('verifyApplication', {
      params: { orgId: args.tenantId, appCode: args.app },
      body: {
        ...(args.resources ? { resources: args.resources } : {}),
        ...(args.repair ? { repair: true } : {}),
      },
    });
    if (context.json) printJson(context, report);
    else printLines(context, formatVerification(report));
    return report.status === 'completed' && report.differences === 0 ? 0 : 1;
  },
});

export function formatVerification(report: VerificationView): string[] {
  if (report.status !== 'completed') {
    return [`verification ${report.verificationId} ${report.status}: ${report.error ?? ''}`];
  }
  const lines = [
    `${report.appCode}: ${report.differences === 0 ? 'in sync with the source' : `${report.differences} rows differ`} (verification ${report.verificationId})`,
  ];
  for (const [resource, r] of Object.entries(report.resources)) {
    lines.push(
      `  ${resource.padEnd(14)} ${String(r.rowsChecked).padStart(9)} rows checked   missing ${r.missing}   stale ${r.stale}   ghost ${r.ghost}` +
        (r.changedDuringVerification
          ? `   (${r.changedDuringVerification} changed meanwhile, not counted)`
          : ''),
    );
    for (const d of r.differences.slice(0, 10)) lines.push(`      ${d.kind.padEnd(8)} ${d.id}`);
    const more = r.missing + r.stale + r.ghost - Math.min(10, r.differences.length);
    if (more > 0) lines.push(`      … ${more} more`);
  }
  const { repair } = report;
  if (repair?.runId) {
    lines.push(
      `repair: run ${repair.runId} publishes ${repair.rows} rows; ${repair.forgotten} ghosts forgotten (hsync run ${report.tenantId} ${repair.runId})`,
    );
  } else if (repair && repair.forgotten > 0) {
    lines.push(`repair: ${repair.forgotten} ghosts forgotten`);
  }
  if (repair?.unrepaired) lines.push(`repair: ${repair.unrepaired} not repaired: ${repair.error}`);
  return lines;
}
