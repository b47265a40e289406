"""Word lists for the traffic generator: enough variety that summaries do real work.

Every thread draws its own topic (components, nouns, verbs) from these pools,
so sentences within a thread share vocabulary and sentences across threads
mostly do not, as on a real list.
"""

from __future__ import annotations

import random


def _words(text: str) -> tuple[str, ...]:
    """The distinct whitespace-separated words of `text`, in order."""
    return tuple(dict.fromkeys(text.split()))


FIRST_NAMES = _words("""
Maya Ann Bob Carla Deepak Elena Farid Grace Hiro Ines Jonas Kofi Lena Marek Nadia Oscar Priya Quentin Rosa
Sven Tanya Umar Vera Wei Ximena Yusuf Zoe Andrei Bianca Chen Dmitri Esther Felix Gabriel Hanna Igor Julia
Karim Lucia Mateo Noor Olga Pavel Rahul Sofia Tomasz Ulla Viktor Wanda Xavier Yara Zainab Aiko Bruno
""")
LAST_NAMES = _words("""
Okafor Example Novak Schmidt Tanaka Garcia Kowalski Ivanova Haddad Nguyen Rossi Larsen Mensah Silva Dubois
Fischer Kumar Petrov Hansen Moreau Yilmaz Costa Walsh Becker Santos Horvat Lindqvist Papadopoulos Oduya
Brennan Varga Sato Keller Nakamura Romero Jansen Adeyemi Morozov Ferreira Lambert Weber Svoboda Ortiz
""")
ACCENTED_NAMES = ("Jörg Müller", "Zoë Brontë", "François Lefèvre", "Łukasz Wójcik", "Søren Kierkegård",
                  "José Núñez", "Ana Łopez", "Göran Ångström")
COMPANIES = ("Example Corp", "Driftwood Labs", "Acme Networks", "Northwind Systems", "Initech",
             "Globex Research", "Umbrella Cloud", "Stark Embedded", "Wayne Analytics", "Hooli Infra")
DOMAINS = ("example.org", "example.com", "mail.example.net", "driftwood.example", "acme.example",
           "northwind.example", "university.example.edu", "gmail.example", "posteo.example")

NOUNS = _words("""
parser scheduler allocator buffer cache queue socket thread lock mutex handler callback driver module plugin
backend frontend compiler linker loader kernel daemon service worker pool index table column schema migration
config option flag setting default timeout retry limit quota budget metric counter gauge histogram trace
log logger message packet frame header payload stream channel pipe connection session token certificate key
signature checksum hash digest encoder decoder codec format protocol endpoint route request response status
error warning failure regression crash leak deadlock race overflow underflow corruption bottleneck latency
throughput bandwidth memory disk file directory path symlink mount volume partition snapshot backup release
version branch commit patch series review test fixture benchmark profile build package dependency wheel
container image cluster node replica shard leader follower election heartbeat lease journal transaction
cursor query planner optimizer statistic histogram vector matrix tensor kernel shader texture pixel widget
layout renderer template stylesheet document manual tutorial example changelog roadmap milestone deadline
meeting agenda vote proposal draft policy license contributor maintainer user developer operator admin
sandbox container filesystem interface abstraction wrapper binding library toolkit framework runtime
interpreter bytecode instruction register pipeline stage batch chunk block page segment region arena slab
account address alarm algorithm alias allocation anchor annotation appliance archive argument array artifact
assertion attribute audit author backlog badge baseline beacon binary bitmap blob bookmark boundary bracket
bridge bucket bundle button calendar canary capability carrier catalog certificate chain changeset charset
checkpoint cipher clause client clock closure cluster cohort collector comment compression condition console
constant constraint context contract controller cookie coordinate copy core coupon credential cron dashboard
database dataset deadline debugger decision delegate delta deployment descriptor detector device diagram
dialog dictionary diff dispatcher distribution domain download editor element emulator encoding engine entry
enum environment event exception executor exporter expression extension facade factory feature feed field
filter firmware fork formula fragment function gateway generator glyph grammar graph grid group guard hint
hook host hotfix icon identifier importer incident indicator initializer inode input installer instance
integer invariant inventory invoice issue item iterator job keyboard keyword label lane language launcher
layer lexer license lifecycle link listener literal locale location loop mailbox manifest mapping marker
mask master member menu merger method middleware mirror mixin mock model monitor namespace network notebook
notification object observer offset opcode operand operator orchestrator order origin outage output owner
package pager panel parameter parent partner password pattern peer permission persistence phase placeholder
platform pointer poller port portal predicate prefix preset primitive printer priority probe process
producer program promise prompt property provider proxy publisher puzzle quorum radius range ranking reader
reactor receiver recipe record reducer reference registry relay remote report repository resolver resource
result revision role rollback rule runner sample scanner scope screen script secret selector semaphore
sender sensor sequence server signal sink slot socket solver source spinner splitter spreadsheet stack
state storage strategy string struct subscriber suffix suite supervisor switch symbol syntax system tag
target task teardown telemetry tenant terminal ticket timer timestamp toggle tokenizer topic tracker
transport tree trigger tuple type unit upload validator value variable vendor verifier view visitor
wallet watcher webhook window wizard workflow workspace writer zone
""")
ADJECTIVES = _words("""
new old broken stale slow fast large small tiny huge noisy quiet flaky stable unstable optional mandatory
internal external public private legacy modern simple complex obvious subtle hidden visible default custom
concurrent parallel sequential lazy eager strict lenient safe unsafe portable native generic specific
incremental partial complete redundant missing duplicate expensive cheap fragile robust verbose terse
accurate adaptive aggressive ambiguous annoying arbitrary asynchronous atomic automatic awkward basic
bidirectional blocking bounded brittle buggy canonical careful central chatty clean clumsy coarse compatible
compact confusing consistent constant convenient correct costly critical cryptic dangerous dead deep
deterministic dirty distributed dynamic efficient elegant empty encrypted enormous experimental explicit
fair faulty fixed flat flexible frequent friendly frozen global graceful greedy hard heavy helpful hot
idle immutable implicit inconsistent independent inefficient infinite initial insecure intermittent
invalid isolated lightweight linear local long loose lossy manual minimal misleading mutable naive nested
obsolete odd opaque orphaned outdated painful pending periodic persistent pluggable predictable primary
random raw readable recursive relative reliable remote reproducible restrictive reusable risky rough
scalable secondary secure shared short sloppy smart sparse static sticky strange surprising synchronous
temporary thin tight transient transparent trivial typical unbounded unclear unexpected unknown unused
unusual useful valid virtual volatile weak weird wide wrong
""")
VERBS = _words("""
fix break improve rework measure review revert test document ignore duplicate remove add rename split merge
refactor cache flush parse validate reject accept retry skip log trace profile optimize simplify deprecate
replace update upgrade downgrade backport rebase squash bisect reproduce debug patch build package ship
release tag benchmark compare allocate free lock unlock serialize deserialize encode decode compress
adjust align annotate append approve archive assign audit automate avoid batch block bump calculate cancel
capture change check clean clone collect combine commit compile configure connect convert copy count
cover crash create deduplicate defer delete deploy detect disable discard dispatch download drop dump
emit enable enforce escape evaluate expose extend extract fetch filter flag format freeze generate guard
handle hash hide import index inject inline inspect install instrument isolate limit link load lower
manage map mark migrate mirror mock monitor move normalize notify observe open order override pin poll
port predict prefetch preserve print prioritize process promote propagate protect prune publish push
query queue raise read rebuild recover reduce register reload render reorder repair report request
reset resolve restart restore restrict resume return reuse rewrite rotate route run sample scan schedule
search select send shrink sign simplify sort spawn stage start stop store stream strip submit subscribe
support suspend sync throttle time track transform translate trigger trim truncate tune unify unpack
unwind upload verify warn watch wrap write
""")
ADVERBS = _words("""
probably certainly clearly slightly significantly occasionally always never rarely often quickly slowly
silently loudly eventually immediately currently previously
""")
PREPOSITIONS = ("in", "on", "for", "with", "without", "after", "before", "during", "under", "behind", "across")
DETERMINERS = ("the", "the", "the", "a", "this", "that", "our", "every", "each", "some", "no")
CONNECTIVES = ("However,", "Also,", "Besides,", "In practice,", "On the other hand,", "To be honest,",
               "As far as I can tell,", "For what it's worth,", "Frankly,", "Meanwhile,", "That said,")
SYLLABLES = _words("ka lo mi ne ru ta vo xi zen dor fal gri hux jal kor lin mur nix pol qua rix sol tor ul ven wex yor")
LANGUAGES = ("c", "py", "rs", "go", "js")


def third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    if len(verb) in (3, 4) and verb[-1] in "bdgmnpt" and verb[-2] in "aeiou" and verb[-3] not in "aeiou":
        return verb + verb[-1] + "ing"
    return verb + "ing"


_IRREGULAR_PAST = {"build": "built", "split": "split", "free": "freed", "ship": "shipped", "run": "ran",
                   "write": "wrote", "read": "read", "hide": "hid", "freeze": "froze", "send": "sent",
                   "spawn": "spawned", "drop": "dropped", "pin": "pinned", "map": "mapped", "wrap": "wrapped",
                   "strip": "stripped", "trim": "trimmed", "stop": "stopped", "submit": "submitted", "bump": "bumped"}


def past(verb: str) -> str:
    if verb in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    if len(verb) in (3, 4) and verb[-1] in "bdgmnpt" and verb[-2] in "aeiou" and verb[-3] not in "aeiou":
        return verb + verb[-1] + "ed"
    return verb + "ed"


def identifier(rng: random.Random) -> str:
    """A made-up component name such as "korvex" or "libtalmi"."""
    name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
    return ("lib" + name) if rng.random() < 0.2 else name


def version(rng: random.Random) -> str:
    return f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 12)}"


def source_path(rng: random.Random, component: str) -> str:
    return f"src/{component}/{rng.choice(NOUNS)}_{rng.choice(NOUNS)}.{rng.choice(LANGUAGES)}"
