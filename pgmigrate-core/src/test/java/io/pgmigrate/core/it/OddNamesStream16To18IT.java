package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/**
 * The STREAM engine's odd-name proofs of {@link OddNamesStreamIT} from PostgreSQL 16 to 18, where the reverse stream asks
 * for origin none.
 */
@PostgresPair(source = 16, target = 18)
class OddNamesStream16To18IT extends OddNamesStreamIT {
}
