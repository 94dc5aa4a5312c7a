package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/**
 * The STREAM engine's crash proofs of {@link CutoverCrashStreamIT} from PostgreSQL 16 to 18, where the reverse
 * stream asks for origin none.
 */
@PostgresPair(source = 16, target = 18)
class CutoverCrashStream16To18IT extends CutoverCrashStreamIT {
}
