package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** Cutover from PostgreSQL 14 to 18: the reverse stream avoids loops by running one direction at a time. */
@PostgresPair(source = 14, target = 18)
class Cutover14To18IT extends CutoverContract {
}
