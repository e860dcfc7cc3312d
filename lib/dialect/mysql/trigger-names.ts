/**
 * MySQL / MariaDB: the two names a fieldsync trigger may carry.
 *
 * A trigger belongs to one table and its name is unique per schema. The reconciler's swap
 * (swap.ts) gives the incoming generation its copies of live's fieldsync triggers BEFORE
 * taking its lock, so the copies need a name live's triggers do not hold: a trigger
 * installed as B (its base name: stampTriggerName, mysqlTriggerName) is copied under its
 * alternate name, and a copy of that one is named B again. The RENAME carries the copies
 * onto live, so a live table carries each fieldsync trigger under either form.
 *
 * The alternate name is never the base name of another table's trigger (an installer
 * drops it): a stamp trigger's (…__fs_st[iud]) takes GENERATION_SUFFIX at the end; an
 * outbox trigger's (fieldsync_outbox_<e>_<table>) turns the prefix into
 * fieldsync_outboxg_<e>_<table>, no base name's form, and still the prefix the capture
 * counts triggers by.
 *
 * The rule every caller keeps: whatever finds, installs, uninstalls or repairs a fieldsync
 * trigger by name accepts both forms (`triggerNameForms`). Installers create the base name
 * and drop the alternate one afterwards (never the other way round: a write in between
 * would miss its stamp or its outbox row; two triggers firing once more is harmless, a
 * stamp one tick higher and a duplicate outbox row that the merge rule absorbs).
 *
 * A base name too long for the suffix (64 characters in all) has one form only; the swap
 * then moves that trigger under its lock as before.
 */
import { TRIGGER_PREFIX } from '../../capture/outbox-layout.js';

export const GENERATION_SUFFIX = '__fs_g';

/** MySQL and MariaDB trigger names have at most 64 characters. */
export const MAX_TRIGGER_NAME = 64;

/** The forms of the trigger installed as `base`: base first, then the alternate one when it fits. */
export function triggerNameForms(base: string): string[] {
  const alternate = base.startsWith(`${TRIGGER_PREFIX}_`) ? `${TRIGGER_PREFIX}g${base.slice(TRIGGER_PREFIX.length)}` : `${base}${GENERATION_SUFFIX}`;
  return alternate.length <= MAX_TRIGGER_NAME ? [base, alternate] : [base];
}

/**
 * The name the copy of trigger `name` takes on the incoming generation, given the base
 * names of the table's fieldsync triggers; undefined for any other trigger (or one whose
 * name has no second form): those are moved under the swap's lock.
 */
export function otherGenerationName(name: string, bases: readonly string[]): string | undefined {
  for (const base of bases) {
    const [b, alternate] = triggerNameForms(base);
    if (alternate === undefined) continue;
    if (name === b) return alternate;
    if (name === alternate) return b;
  }
  return undefined;
}
