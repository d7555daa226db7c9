// BSD libedit (Debian: libedit-dev), the line editor crmgate-admin uses.
#include <histedit.h>
