package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** Cutover from PostgreSQL 16 to 18: both sides filter replicated changes with {@code origin = none}. */
@PostgresPair(source = 16, target = 18)
class Cutover16To18IT extends CutoverContract {
}
