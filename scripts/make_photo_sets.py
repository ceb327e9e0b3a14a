"""Add photographs to the real-photo evaluation set (data/photos) and make the tuning set
(data/photos-tuning, for choosing the naming thresholds; never used to report results).

Labels were written by looking at each photo. Sources are packages the project already draws on,
unpacked into one folder (ROOT): Debian gcompris-qt-data 3.1-2 (its Qt .rcc files unpacked under
ROOT/gc/<rcc name>/), opencv-doc 4.6.0+dfsg-12 and darknet 0.0.0+git20180914 (dpkg-deb -x into
ROOT/ex; so are scratch, palapeli-data and the wallpaper packages lomiri-wallpapers-16.04/-20.04,
mate-backgrounds, plasma-workspace-wallpapers and gimp-help-en), scikit-image 0.26 and matplotlib's sample data
(from the installed wheels). A GCompris photo's licence is read from the README beside it, a
wallpaper's from its package's copyright file (or KDE's metadata.json).

    python scripts/make_photo_sets.py ROOT
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CAT = "categorization/gcompris/src/activities/categorization/resource/images"
WORLD = "explore_world_animals/gcompris/src/activities/explore_world_animals/resource/animals"
MON = "explore_monuments/gcompris/src/activities/explore_monuments/resource"
OPENCV = "ex/usr/share/doc/opencv-doc/examples/data"
OPENCV_HTML = "ex/usr/share/doc/opencv-doc/opencv4/html"  # the tutorials' pictures
OPENCV_EXAMPLES = "ex/usr/share/doc/opencv-doc/examples"  # the samples' data, data/ among them
DARKNET = "ex/usr/share/darknet/data"
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (Debian opencv-doc copyright; photographer unstated)"
DARKNET_LICENCE = "GPL-3.0+ or MIT or WTFPL (Debian darknet copyright, Files: *; photographer unstated)"
SCRATCH = "ex/usr/share/scratch/Media"  # Debian scratch 1.4.0.6~dfsg1-6.1
SCRATCH_LICENCE = "CC-BY-SA-3.0 (Debian scratch copyright, Files: Media/*: Copyright (c) 2011 Massachusetts Institute of Technology)"
PALAPELI = "ex/usr/share/palapeli/collection"  # Debian palapeli-data 4:22.12.3-1; a .desktop beside each photo
# Desktop wallpapers (the eighth round): Debian lomiri-wallpapers-16.04 / -20.04 20.04.0-2 (Ubuntu's
# wallpaper contest photos), mate-backgrounds 1.26.0-1, plasma-workspace-wallpapers 4:5.27.5-2
LOMIRI = "ex/usr/share/backgrounds"
MATE = "ex/usr/share/backgrounds/mate/nature"
PLASMA = "ex/usr/share/wallpapers"
GIMP_HELP = "ex/usr/share/gimp/2.0/help/en/images"  # Debian gimp-help-en 2.10.34-2: the manual's example photos
GIMP_HELP_LICENCE = "GFDL-NIV-1.2+ (The GIMP Documentation Team; Debian gimp-help-common copyright, Files: *)"
# folder -> (where it is from, the package whose copyright file lists its photos); the narrower first
WALLPAPER_PACKAGES = {
    MATE: ("mate-backgrounds 1.26.0-1", "mate-backgrounds"),
    LOMIRI: ("lomiri-wallpapers-16.04 / -20.04 20.04.0-2", "lomiri-wallpapers-16.04"),  # one source, one copyright file
}


def gcompris_objects(folder: str, rows: list[tuple], prefix: str = "gc_") -> list[tuple]:
    """Entries for GCompris object photos in `folder` (under ROOT/gc): rows of (file name without
    .webp, main object, accepted names[, note])."""
    return [
        (f"{prefix}{name.lower()}.jpg", f"gc/{folder}/{name}.webp", "object", main, accepted, *(note or [""]))
        for name, main, accepted, *note in rows
    ]


# (file, source under ROOT or a wheel, kind, main object, accepted names (|), note). kind: object, people or place.
EVALUATION = [
    ("gc_crocodile.jpg", f"gc/{WORLD}/crocodile.webp", "object", "crocodile", "crocodile|alligator", "crocodile on a river bank"),
    ("gc_komodo.jpg", f"gc/{WORLD}/dragon.webp", "object", "komodo dragon", "komodo dragon|lizard|dragon", "komodo dragon on rock"),
    ("gc_jaguars.jpg", f"gc/{WORLD}/jaguar.webp", "object", "jaguar", "jaguar|jaguars|leopard|leopards", "two jaguars on rocks"),
    ("gc_lemurs.jpg", f"gc/{WORLD}/lemur.webp", "object", "lemur", "lemur|lemurs", "ring-tailed lemurs"),
    ("gc_narwhals.jpg", f"gc/{WORLD}/narwhal.webp", "object", "narwhal", "narwhal|narwhals|whale|whales", "narwhals at the sea surface"),
    ("gc_panda.jpg", f"gc/{WORLD}/panda.webp", "object", "panda", "panda|giant panda", "giant panda"),
    *[
        (f"gc_fish{n}.jpg", f"gc/{CAT}/fishes/fish{n}.webp", "object", "fish", "fish|fishes", note)
        for n, note in [
            (2, "fish over a rocky bottom"),
            (3, "striped fish in an aquarium"),
            (5, "red fish on a reef"),
            (6, "orange discus fish"),
            (7, "shoal of small fish over sand"),
            (8, "fish over weed"),
            (10, "orange fish over coral"),
            (11, "shoal of fish"),
        ]
    ],
    *gcompris_objects(
        f"{CAT}/tools",
        [
            ("hammer1", "hammer", "hammer", "hammer on blue"),
            ("hammer2", "hammer", "hammer", "small hammer on white"),
            ("hammer3", "hammer", "hammer|sledgehammer", "sledgehammer"),
            ("hammer8", "hammer", "hammer", "claw hammer"),
            ("measuringTape2", "tape measure", "tape measure|measuring tape|tape", "reel tape measure"),
            ("measuringTape6", "tape measure", "tape measure|measuring tape|tape", "black tape measure"),
            ("plier3", "pliers", "pliers|plier", "red-handled pliers"),
            ("plier4", "pliers", "pliers|plier", "old pliers"),
            ("scissors2", "scissors", "scissors", "black scissors on wood"),
            ("scissors4", "scissors", "scissors", "orange scissors"),
            ("screwDriver", "screwdriver", "screwdriver", "red screwdriver"),
            ("screwDriver2", "screwdriver", "screwdriver", "black screwdriver"),
            ("wrench1", "wrench", "wrench|spanner|adjustable spanner", "adjustable wrench on wood"),
        ],
    ),
    *gcompris_objects(
        f"{CAT}/others",
        [
            ("bucket", "bucket", "bucket|pail", "wooden bucket"),
            ("chair", "chair", "chair", "white chair"),
            ("erasers", "eraser", "eraser|rubber", "red and blue eraser"),
            ("knife", "cutlery", "knife|fork|spoon|cutlery", "knife, fork and spoon"),
            ("pan", "frying pan", "frying pan|pan|skillet", "frying pan on a cooker"),
            ("pencil", "pencil", "pencil", "pencil"),
            ("pillow", "pillow", "pillow|cushion", "pillow on a bed"),
            ("plate", "plate", "plate|dish", "white plate"),
            ("spoons", "spoon", "spoon|spoons", "five spoons"),
            ("weighingMachine", "scales", "scales|scale|weighing machine", "electronic scales"),
        ],
    ),
    ("dn_dog.jpg", f"{DARKNET}/dog.jpg", "object", "dog", "dog", "dog beside a bicycle, a car behind"),
    ("dn_eagle.jpg", f"{DARKNET}/eagle.jpg", "object", "eagle", "eagle", "eagle by water"),
    ("dn_giraffe.jpg", f"{DARKNET}/giraffe.jpg", "object", "giraffe", "giraffe|zebra", "giraffe and a zebra"),
    ("dn_horses.jpg", f"{DARKNET}/horses.jpg", "object", "horse", "horse|horses", "horses on dry ground"),
    ("dn_person.jpg", f"{DARKNET}/person.jpg", "people", "person", "person|people|man|woman", "a person with a dog and a horse"),
    ("cv_messi.jpg", f"{OPENCV}/messi5.jpg", "people", "person", "person|people|man|player", "footballer kicking a ball"),
    (
        "cv_basketball.jpg",
        f"{OPENCV}/basketball1.png",
        "people",
        "person",
        "person|people|two people|man|men",
        "two men with a ball in a corridor (grey)",
    ),
    ("sk_astronaut.jpg", "skimage:astronaut.png", "people", "person", "person|people|woman|astronaut", "astronaut portrait"),
    (
        "sk_cameraman.jpg",
        "skimage:camera.png",
        "people",
        "person",
        "person|people|man|photographer",
        "man with a camera on a tripod (grey)",
    ),
    ("mpl_grace_hopper.jpg", "matplotlib:grace_hopper.jpg", "people", "person", "person|people|woman", "portrait of Grace Hopper"),
    (
        "dn_kite.jpg",
        f"{DARKNET}/kite.jpg",
        "place",
        "beach",
        "beach|seashore|shore|coast|sea|lake|lakeside",
        "people flying kites on a beach",
    ),
    ("gc_dam1.jpg", f"gc/{CAT}/renewable/dam1.webp", "place", "dam", "dam", "dam spillway"),
    ("gc_dam3.jpg", f"gc/{CAT}/renewable/dam3.webp", "place", "dam", "dam|weir", "river dam with gates"),
    (
        "gc_geothermal.jpg",
        f"gc/{CAT}/renewable/geothermal.webp",
        "place",
        "geothermal plant",
        "geyser|hot spring|power station|power plant",
        "steam over a geothermal lagoon",
    ),
    ("gc_cathedral.jpg", f"gc/{CAT}/monuments/cathedral.webp", "place", "cathedral", "cathedral|church", "cathedral front"),
    ("gc_church.jpg", f"gc/{CAT}/monuments/monument3.webp", "place", "church", "church|cathedral", "church in a town"),
    ("gc_dome_of_rock.jpg", f"gc/{CAT}/monuments/monument1.webp", "place", "mosque", "mosque|shrine|dome|temple", "Dome of the Rock"),
    ("gc_taj_mahal.jpg", f"gc/{CAT}/monuments/tajMahal.webp", "place", "palace", "taj mahal|mausoleum|palace|mosque|tomb", "Taj Mahal"),
    ("gc_winter_palace.jpg", f"gc/{CAT}/monuments/zimniPalace.webp", "place", "palace", "palace", "Winter Palace at night"),
    (
        "gc_colosseum.jpg",
        f"gc/{CAT}/monuments/colosseum.webp",
        "place",
        "amphitheatre",
        "colosseum|amphitheatre|amphitheater|arena|ruins",
        "Colosseum",
    ),
    ("gc_chambord.jpg", f"gc/{MON}/france/chateaudeChambord.webp", "place", "castle", "castle|chateau|palace", "Chateau de Chambord"),
    (
        "gc_carcassonne.jpg",
        f"gc/{MON}/france/citedeCarcassonne.webp",
        "place",
        "castle",
        "castle|fortress|walls|city walls",
        "walls of Carcassonne",
    ),
    (
        "gc_mont_st_michel.jpg",
        f"gc/{MON}/france/montStMichel.webp",
        "place",
        "island abbey",
        "abbey|monastery|castle|island",
        "Mont-Saint-Michel",
    ),
    ("gc_pont_du_gard.jpg", f"gc/{MON}/france/pontduGard.webp", "place", "aqueduct", "aqueduct|viaduct|bridge", "Pont du Gard"),
]
# Seventh round (2026-12-05): photos from two packages no earlier set drew on, labelled by looking
# before any model captioned them, none of them used to choose anything. Scratch's media library:
# photographs of places (its backgrounds) and cut-out photographs of objects, animals and people
# (its costumes; flattened onto white as a page shows them); Palapeli's five puzzle photographs.
# Scratch's castle (the Palais des Papes, which the tuning set shows) was left out.


def package_photos(prefix: str, folder: str, kind: str, rows: list[tuple]) -> list[tuple]:
    """Entries for photos under `folder` (below ROOT): rows of (path inside it, main object,
    accepted names, note); each is saved as <prefix><its name, lower case, "-" as "_">.jpg."""
    return [
        (f"{prefix}{Path(path).stem.lower().replace('-', '_')}.jpg", f"{folder}/{path}", kind, main, accepted, note)
        for path, main, accepted, note in rows
    ]


EVALUATION += [
    *package_photos(
        "sc_",
        SCRATCH,
        "object",
        [
            ("Costumes/Animals/bird-flying.gif", "pigeon", "pigeon|dove|bird", "pigeon landing, cut out"),
            ("Costumes/Animals/buffalo1.gif", "bison", "bison|buffalo", "American bison, cut out"),
            ("Costumes/Animals/cow1.gif", "cow", "cow|cattle|ox|bull|calf", "white cow, cut out"),
            ("Costumes/Animals/elephant.gif", "elephant", "elephant", "elephant walking, cut out"),
            ("Costumes/Animals/insect1-a.gif", "ant", "ant|ants", "an ant, close, cut out"),
            ("Costumes/Animals/squirrel1.png", "squirrel", "squirrel", "squirrel's face, cut out"),
            ("Costumes/Animals/grasshopper2.gif", "grasshopper", "grasshopper|katydid|cricket|locust", "green bush cricket, cut out"),
            ("Costumes/Things/fire-hydrant.gif", "fire hydrant", "fire hydrant|hydrant", "black and yellow fire hydrant, cut out"),
            ("Costumes/Things/flower-vase.gif", "vase", "vase|flowers|flower|bouquet", "flowers in a glass vase, cut out"),
            ("Costumes/Things/fortune_cookie.gif", "cookie", "fortune cookie|cookie|biscuit", "fortune cookie, cut out"),
            (
                "Costumes/Things/fruit_platter.gif",
                "fruit",
                "fruit|fruits|platter|grapes|strawberries|melon|pineapple",
                "fruit platter, cut out",
            ),
            ("Costumes/Things/hair1.gif", "wig", "wig|hair", "red wig, cut out"),
            ("Costumes/Things/lamp.gif", "lamp", "lamp|table lamp|lampshade", "table lamp, cut out"),
            ("Costumes/Things/lego.gif", "toy brick", "lego|brick|block|toy", "blue toy brick, cut out"),
            ("Costumes/Things/manhole.png", "manhole cover", "manhole|manhole cover|drain|cover", "manhole cover, cut out"),
            ("Costumes/Things/palmtree.gif", "palm tree", "palm tree|palm", "palm tree, cut out"),
            ("Costumes/Things/scoreboard.gif", "scoreboard", "scoreboard", "football scoreboard on posts, cut out"),
            ("Costumes/Things/tennisball.png", "tennis ball", "tennis ball|ball", "tennis ball, cut out"),
            ("Costumes/Things/trampoline.gif", "trampoline", "trampoline", "round trampoline, cut out"),
            ("Costumes/Things/umbrella.gif", "umbrella", "umbrella|parasol", "red and white beach umbrella, cut out"),
            (
                "Costumes/Transportation/airplane.gif",
                "airplane",
                "airplane|plane|airliner|jet|aircraft|aeroplane",
                "airliner in flight, cut out",
            ),
            ("Costumes/Transportation/bike.gif", "bicycle", "bicycle|bike", "lowrider bicycle, cut out"),
            ("Costumes/Transportation/bus.gif", "bus", "bus|coach", "city bus, cut out"),
            ("Costumes/Transportation/car-blue.gif", "car", "car", "blue Mini, cut out"),
            ("Costumes/Transportation/car-bug.gif", "car", "car", "green Volkswagen Beetle, cut out"),
            (
                "Costumes/Transportation/sail-boat.gif",
                "sailboat",
                "sailboat|sailing ship|schooner|ship|boat|yacht",
                "two-masted schooner, cut out",
            ),
            ("Costumes/Transportation/tug-boat.gif", "tugboat", "tugboat|tug|boat|ship", "tugboat, cut out"),
            ("Costumes/Transportation/yacht.gif", "yacht", "yacht|boat|ship|cruise ship|motorboat", "motor yacht, cut out"),
            ("Backgrounds/Nature/flower-bed.jpg", "flower", "flower|flowers|daisy|daisies|flower bed", "bed of yellow daisies"),
            ("Backgrounds/Nature/flowers.gif", "flower", "flower|flowers|zinnia|zinnias", "red zinnias, close"),
            ("Backgrounds/Nature/garden-rock.jpg", "rock", "rock|boulder|stone", "boulder on a lawn"),
            ("Backgrounds/Nature/tree.jpg", "tree", "tree|trunk", "tree trunk in mulch"),
            ("Backgrounds/Outdoors/bench-with-view.jpg", "bench", "bench|park bench", "bench facing a view of the sea"),
        ],
    ),
    *package_photos(
        "sc_",
        SCRATCH,
        "people",
        [
            (f"Costumes/People/{name}", "person", accepted, note)
            for name, accepted, note in [
                ("amon1.gif", "person|people|man", "man balancing on one leg, cut out"),
                ("anjuli-1.gif", "person|people|woman|girl", "young woman, cut out"),
                ("anna-1.gif", "person|people|girl|child", "girl with arms out, cut out"),
                ("cassy-standing-1.gif", "person|people|woman|girl", "woman standing, cut out"),
                ("football-stand.gif", "person|people|man|player", "American football player, cut out"),
                ("nathan.gif", "person|people|man", "man holding a newspaper, cut out"),
                ("sam.gif", "person|people|boy|child", "boy in a jacket, cut out"),
                ("thai-dancer.gif", "person|people|woman|dancer", "Thai dancer in costume, cut out"),
            ]
        ],
    ),
    *package_photos(
        "sc_",
        SCRATCH,
        "place",
        [
            ("Backgrounds/Nature/beach-malibu.jpg", "beach", "beach|seashore|shore|coast|sea", "sandy beach"),
            ("Backgrounds/Outdoors/boardwalk.jpg", "boardwalk", "boardwalk|pier|dock|sea|seashore|coast|shore", "wooden deck by the sea"),
            ("Backgrounds/Nature/canyon.jpg", "canyon", "canyon|valley|mountain|hill|cliff", "hikers above a canyon"),
            ("Backgrounds/Nature/grand-canyon.jpg", "canyon", "canyon|valley|cliff|gorge", "Grand Canyon through trees"),
            ("Backgrounds/Nature/hill.jpg", "hill", "hill|coast|seashore|sea|promontory|headland|cliff|shore", "hillside above the sea"),
            ("Backgrounds/Nature/lake.jpg", "lake", "lake|pond|lakeside|lakeshore|river|swamp", "pond in a wood"),
            ("Backgrounds/Nature/forest.jpg", "forest", "forest|woods|wood|grove", "birch forest"),
            ("Backgrounds/Nature/moon.jpg", "moon", "moon|lunar surface|crater", "the moon's surface"),
            ("Backgrounds/Nature/water-and-rocks.jpg", "stream", "stream|river|creek|brook", "rocky stream"),
            ("Backgrounds/Nature/wave.jpg", "wave", "wave|sea|ocean|surf", "a breaking wave"),
            ("Backgrounds/Nature/gravel-desert.jpg", "desert", "desert|road|track", "gravel road in a desert"),
            ("Backgrounds/Nature/pathway.jpg", "garden", "garden|path|pathway|pergola|arbor|park", "garden path under a pergola"),
            ("Backgrounds/Outdoors/hay_field.jpg", "field", "field|hayfield|farm|hay|meadow", "field of hay bales"),
            (
                "Backgrounds/Outdoors/houses.jpg",
                "shacks",
                "shack|shacks|shanty|slum|village|houses|hut|huts|street",
                "corrugated shacks on a dirt street",
            ),
            ("Backgrounds/Outdoors/village.jpg", "village", "village|shacks|shanty|slum|town|huts", "shanty village under clouds"),
            ("Backgrounds/Outdoors/wooden-house.jpg", "shack", "shack|hut|cabin|house|barn|shed", "old wooden house"),
            ("Backgrounds/Outdoors/route66.jpg", "road", "road|highway|street|freeway", "empty highway"),
            ("Backgrounds/Outdoors/train-tracks1.jpg", "railway", "railway|railroad|track|tracks|rails", "railway through a valley"),
            ("Backgrounds/Outdoors/train-tracks2.jpg", "railway", "railway|railroad|track|tracks|rails", "railway through woods"),
            ("Backgrounds/Outdoors/pool.jpg", "swimming pool", "swimming pool|pool", "swimming pool"),
            (
                "Backgrounds/Outdoors/parking-ramp.jpg",
                "parking garage",
                "parking garage|garage|parking|car park|parking lot",
                "entrance of a parking garage",
            ),
            (
                "Backgrounds/Outdoors/city-with-water.jpg",
                "city",
                "city|skyline|river|waterfront|lakeside|lake|harbour|harbor",
                "city skyline at night over water",
            ),
            (
                "Backgrounds/Outdoors/city-with-water2.jpg",
                "city",
                "city|skyline|river|waterfront|lakeside|lake|harbour|harbor",
                "city skyline over a river",
            ),
            ("Backgrounds/Outdoors/mansion.jpg", "mansion", "mansion|manor|house|building|college|hall", "stone mansion behind a lawn"),
            ("Backgrounds/Outdoors/silos.jpg", "silos", "silo|silos|tank|tanks|water tower", "two painted silos"),
            ("Backgrounds/Outdoors/hallway_outdoors.jpg", "arcade", "arcade|cloister|colonnade|corridor|hallway|portico", "stone arcade"),
            ("Backgrounds/Indoors/kitchen.jpg", "kitchen", "kitchen", "kitchen with a cooker"),
            ("Backgrounds/Indoors/hall.jpg", "corridor", "corridor|hallway|hall", "long corridor"),
            ("Backgrounds/Indoors/clothing-store.jpg", "shop", "shop|store|clothing store|boutique", "clothing store"),
            ("Backgrounds/Indoors/the-movies-inside.jpg", "cinema", "cinema|movie theater|theater|theatre|lobby", "cinema lobby"),
            ("Backgrounds/Sports/baseball-field.jpg", "baseball field", "baseball field|ballpark|stadium|baseball", "baseball stadium"),
            (
                "Backgrounds/Sports/basketball-court1-a.jpg",
                "basketball court",
                "basketball court|court|basketball",
                "outdoor basketball court",
            ),
            ("Backgrounds/Sports/football-field.jpg", "stadium", "stadium|football field|field", "football stadium"),
            ("Backgrounds/Sports/playing-field.jpg", "field", "field|playing field|soccer field|park|meadow", "playing field"),
        ],
    ),
    (
        "pp_citrus_fruits.jpg",
        f"{PALAPELI}/citrus-fruits.jpg",
        "object",
        "citrus fruit",
        "orange|oranges|lemon|lemons|lime|limes|grapefruit|citrus",
        "slices of oranges, lemons and limes",
    ),
    ("pp_honey_bee.jpg", f"{PALAPELI}/european-honey-bee.jpg", "object", "bee", "bee|honeybee|honey bee|bees", "honey bee on an aster"),
    (
        "pp_chameleon.jpg",
        f"{PALAPELI}/panther-chameleon-female.jpg",
        "object",
        "chameleon",
        "chameleon|lizard",
        "panther chameleon on a branch",
    ),
    ("pp_castle_maintenon.jpg", f"{PALAPELI}/castle-maintenon.jpg", "place", "castle", "castle|chateau|palace", "Chateau de Maintenon"),
    (
        "pp_cincinnati_bridge.jpg",
        f"{PALAPELI}/cincinnati-bridge.jpg",
        "place",
        "bridge",
        "bridge|suspension bridge",
        "Roebling suspension bridge at night",
    ),
]
# The eighth round: photographs from Debian's desktop wallpaper packages, labelled by looking before
# any model captioned them. Left out: renders and abstract pictures, textures (moss, a leaf's veins,
# a water drop), a bird figurine, a bridge's cables, an aerial beach that looks drawn.
EVALUATION += [
    *package_photos(
        "lm_",
        LOMIRI,
        "object",
        [
            ("Dragonfly_by_Bolly.jpg", "dragonfly", "dragonfly|dragonflies", "dragonfly on a hazel twig against the sky"),
            ("Kleiber_by_Lukas_Baubkus.jpg", "nuthatch", "nuthatch|bird", "nuthatch on a tree trunk"),
            ("Picture_0B_by_freespace.jpg", "fig", "fig|figs", "half a fig on a red dish"),
            ("Picture_1A_by_freespace.jpg", "paintbrush", "paintbrush|paintbrushes|brush|brushes", "paintbrushes in a pot"),
            ("Wine_by_Jakkub_Mede.jpg", "drum", "drum|drums|djembe", "djembe on a bean bag; a wine bottle, a table, a speaker behind"),
            ("friends_by_Aitzol_Berasategi.jpg", "dog", "dog|dogs|spaniel|spaniels", "two spaniels at a window"),
            ("seeding_by_Clements_Engelhardt.jpg", "dandelion", "dandelion|dandelions|flower|flowers", "dandelion clocks in a meadow"),
            ("greentock_by_Peter_Nerlich.jpg", "clock", "clock|wall clock|clocks", "a wall clock, close"),
        ],
    ),
    *package_photos(
        "lm_",
        LOMIRI,
        "place",
        [
            ("aitzgorri_by_Aitzol_Berasategi.jpg", "mountain", "mountain|mountains|valley|hill|hills", "meadow, autumn forest, a ridge"),
            ("life_by_Aitzol_Berasategi.jpg", "stream", "stream|river|creek|forest|woods|waterfall", "a stream over rocks in a wood"),
            ("picosdeeuropa_by_Aitzol_Berasategi.jpg", "mountain", "mountain|mountains", "a path below rocky peaks"),
            ("sunset_by_Aitzol_Berasategi.jpg", "mountain", "mountain|mountains|hill|hills", "sunset over hills, from a summit"),
        ],
    ),
    *package_photos(
        "mb_",
        MATE,
        "object",
        [
            ("FreshFlower.jpg", "flower", "flower|flowers|gerbera|daisy", "an orange gerbera, close"),
            ("Garden.jpg", "flower", "flower|flowers|marigold", "a marigold"),
            ("LadyBird.jpg", "ladybird", "ladybird|ladybug|ladybirds", "ladybird on a stem among forget-me-nots"),
            ("RainDrops.jpg", "leaf", "leaf|leaves|grass", "leaves with raindrops"),
            ("YellowFlower.jpg", "flower", "flower|flowers|daisy", "a yellow flower, close"),
        ],
    ),
    *package_photos(
        "mb_",
        MATE,
        "place",
        [
            ("Dune.jpg", "beach", "beach|dune|dunes|coast|seashore|sea", "dune grass, the sea behind"),
            ("Storm.jpg", "road", "road|highway|motorway", "a motorway under a storm, from a moving car"),
        ],
    ),
    *[
        (f"kw_{name.lower()}.jpg", f"{PLASMA}/{name}/contents/images/1280x1024.jpg", kind, main, accepted, note)
        for name, kind, main, accepted, note in [
            (
                "EveningGlow",
                "object",
                "boat",
                "boat|boats|rowing boat|rowing boats|rowboat|rowboats",
                "rowing boats on a lake shore at sunset",
            ),
            ("FallenLeaf", "object", "leaf", "leaf|leaves", "fallen autumn leaves"),
            ("Kite", "object", "kite", "kite|kites", "a kite in a blue sky"),
            ("BytheWater", "place", "lake", "lake|pier|dock|jetty|boardwalk|shore", "a wooden jetty by a lake"),
            ("ColdRipple", "place", "pier", "pier|jetty|dock|lake", "a jetty into a foggy lake"),
            ("DarkestHour", "place", "lake", "lake", "a lake in fog at dusk"),
            ("Path", "place", "forest", "forest|woods|wood", "a path through a spruce forest"),
            ("summer_1am", "place", "lake", "lake", "a lake at dusk, reeds on the right"),
        ]
    ],
]
TUNING = [
    *[(f"gc_fish{n}.jpg", f"gc/{CAT}/fishes/fish{n}.webp", "object", "fish", "fish|fishes", "") for n in (12, 13, 14, 15, 16)],
    *gcompris_objects(
        f"{CAT}/tools",
        [
            ("hammer4", "hammer", "hammer"),
            ("hammer6", "hammer", "hammer|mallet"),
            ("hammer7", "hammer", "hammer"),
            ("measuringTape3", "tape measure", "tape measure|measuring tape|tape"),
            ("plier2", "pliers", "pliers"),
            ("scissors3", "scissors", "scissors"),
            ("screwDriver1", "screwdriver", "screwdriver"),
            ("sideCutter1", "pliers", "pliers|wire cutters|side cutters"),
        ],
    ),
    ("gc_solar1.jpg", f"gc/{CAT}/renewable/solar1.webp", "object", "solar cooker", "solar collector|solar cooker|solar dish", ""),
    ("gc_dam2.jpg", f"gc/{CAT}/renewable/dam2.webp", "place", "dam", "dam|weir", ""),
    ("gc_dam4.jpg", f"gc/{CAT}/renewable/dam4.webp", "place", "weir", "dam|weir", ""),
    ("gc_chenonceau.jpg", f"gc/{MON}/france/chateaudeChenonceau.webp", "place", "castle", "castle|chateau|palace", ""),
    ("gc_palais_des_papes.jpg", f"gc/{MON}/france/palaisdesPapes.webp", "place", "palace", "palace|castle", ""),
    (
        "gc_arles.jpg",
        f"gc/{MON}/france/arlesAmphitheater.webp",
        "place",
        "amphitheatre",
        "amphitheatre|amphitheater|arena|colosseum|ruins",
        "",
    ),
    # Grown for issue 22's choice among recognisers: GCompris photos and an OpenCV sample that
    # data/photos does not use (other fish, tools and objects that no recogniser may know).
    *[
        (f"gc_fish{n}.jpg", f"gc/{CAT}/fishes/fish{n}.webp", "object", "fish", "fish|fishes", "")
        for n in (17, 18, 19, 20, 21, 22, 23, 24, 26, 27)
    ],
    *gcompris_objects(
        f"{CAT}/tools",
        [
            ("tweezer", "tweezers", "tweezers|tweezer", "two tweezers on cloth"),
            ("tweezer1", "tweezers", "tweezers|tweezer", "three tweezers"),
            ("multimeter1", "multimeter", "multimeter|meter", "red multimeter"),
            ("multimeter2", "multimeter", "multimeter|meter", "blue multimeter"),
            ("multimeter3", "multimeter", "multimeter|meter", "green multimeter"),
            ("spray", "spray bottle", "spray bottle|spray|sprayer|bottle", "red spray bottle"),
            ("nailCutter", "nail clippers", "nail clippers|nail clipper|clippers|nail cutter", "nail clippers"),
            ("sickle", "sickle", "sickle", "sickle"),
            ("cuttingTool", "pliers", "pliers|wire cutters|side cutters|cutters", "side cutters, blue handles"),
            ("screwDriver3", "screwdriver", "screwdriver|screwdrivers", "two green screwdrivers"),
        ],
    ),
    ("gc_blackslate.jpg", f"gc/{CAT}/others/blackslate.webp", "object", "blackboard", "blackboard|chalkboard|slate", "framed slate"),
    ("gc_igloo.jpg", f"gc/{CAT}/others/igloo.webp", "object", "igloo", "igloo", "igloo of snow blocks"),
    ("cv_aloe.jpg", f"{OPENCV}/aloeL.jpg", "object", "aloe", "aloe|potted plant|pot plant|houseplant|flowerpot", "aloe in a pot"),
    ("cv_cow.jpg", f"{OPENCV_HTML}/Laplace_Operator_Tutorial_Original_Image.jpg", "object", "cow", "cow|cows|calf", "cow suckling a calf"),
    ("cv_kitten.jpg", f"{OPENCV_HTML}/cat_det.jpg", "object", "cat", "cat|kitten", "kitten (a thin detection box drawn)"),
    (
        "cv_double_decker.jpg",
        f"{OPENCV_HTML}/pexels_double_decker_bus.jpg",
        "object",
        "bus",
        "bus|double-decker|double decker",
        "red double-decker bus",
    ),
    ("cv_bus.jpg", f"{OPENCV_HTML}/bus_det.jpg", "object", "bus", "bus", "red city bus (a thin detection box drawn)"),
    (
        "cv_space_shuttle.jpg",
        f"{OPENCV_HTML}/space_shuttle.jpg",
        "object",
        "space shuttle",
        "space shuttle|shuttle|spacecraft",
        "space shuttle on display",
    ),
    (
        "cv_airplane.jpg",
        f"{OPENCV_HTML}/aero_det.jpg",
        "object",
        "airplane",
        "airplane|aeroplane|plane|aircraft",
        "airliner on a runway (thin boxes drawn)",
    ),
]
# Grown again for issue 22: the tuning set was nearly all fish and tools, which users rarely photograph
# and ImageNet mostly lacks, so thresholds chosen on it were those of tools. GCompris' erase
# activity holds 33 wildlife photographs (Wikimedia Commons, a licence each), explore_world_music
# photographs of people playing music (its instrument photos are data/photos' gc_drums, gc_drumkit
# and gc_lute); none is in data/photos. Labelled by looking; the festival at night (japan.webp) is
# left out as neither one object, people nor a place.
ERASE = "erase/gcompris/src/activities/erase/resource"
MUSIC = "explore_world_music/gcompris/src/activities/explore_world_music/resource/music"
TUNING += [
    *gcompris_objects(
        ERASE,
        prefix="gc_erase_",
        rows=[
            ("alpaca", "alpaca", "alpaca|llama", "white alpaca's head"),
            ("bee", "bee", "bee|honeybee", "bee at red flowers"),
            ("butterfly", "butterfly", "butterfly", "butterfly on a purple flower"),
            ("calf", "cow", "calf|cow|cattle|ox|bull", "calf's head, facing"),
            ("camels", "camel", "camel|camels", "two Bactrian camels in a desert"),
            ("caterpillar", "caterpillar", "caterpillar", "striped caterpillar on a stem"),
            ("chamaeleon", "chameleon", "chameleon|lizard", "green chameleon on a branch"),
            ("cheetah", "cheetah", "cheetah", "cheetah lying in grass"),
            ("crab", "crab", "crab", "red crab on rock"),
            ("dolphin", "dolphin", "dolphin", "dolphin under water"),
            ("flying_fox", "bat", "bat|flying fox|fruit bat", "fruit bat hanging from a branch"),
            ("gibbon", "gibbon", "gibbon|ape", "gibbon in a tree"),
            ("giraffe", "giraffe", "giraffe|giraffes", "giraffe's head and neck"),
            ("goat", "goat", "goat", "long-haired goat on a mountain"),
            ("gorilla", "gorilla", "gorilla|ape", "gorilla in foliage"),
            ("gosling", "goose", "gosling|goose", "gosling walking"),
            ("heron", "heron", "heron", "heron in flight"),
            ("horse", "horse", "horse|pony", "brown pony before mountains"),
            ("kingfisher", "kingfisher", "kingfisher", "kingfisher on a twig"),
            ("kitten", "cat", "kitten|cat", "ginger kitten on a wooden box"),
            ("long_nosed_monkey", "monkey", "monkey|proboscis monkey", "proboscis monkey with young"),
            ("macaque", "monkey", "monkey|macaque", "macaque's head"),
            ("meerkats", "meerkat", "meerkat|meerkats", "three meerkats standing"),
            ("northern_harrier", "hawk", "harrier|hawk|kite", "harrier in flight"),
            ("nubian_ibex", "ibex", "ibex|goat", "female Nubian ibex in a desert"),
            ("penguin", "penguin", "penguin", "penguin on grass"),
            ("pika", "pika", "pika", "pika on a rock"),
            ("red_panda", "red panda", "red panda|lesser panda", "red panda on a branch"),
            ("rhinoceros", "rhinoceros", "rhinoceros|rhino", "Indian rhinoceros on a river bank"),
            ("spoonbills", "spoonbill", "spoonbill|spoonbills|egret", "spoonbill and egret in water"),
            ("squirrel", "squirrel", "squirrel", "red squirrel on a tree trunk"),
            ("swans", "swan", "swan|swans", "swans and cygnets on dark water"),
            ("toucan", "toucan", "toucan", "toucan on a branch"),
        ],
    ),
    *[
        (f"gc_music_{name}.jpg", f"gc/{MUSIC}/{name}.webp", "people", "person", "person|people|man|men|woman|women", note)
        for name, note in [
            ("australia", "a man playing a didgeridoo"),
            ("ireland", "four musicians on a stage"),
            ("italy", "a group in costumes"),
            ("mexico", "a mariachi band"),
            ("orchestra", "an orchestra on a stage"),
        ]
    ],
]
# Fourth round (2026-12-04): the set had no car, potted plant, songbird or monkey's face, few people
# and few places, and once the detector's confirmation joined the rules (naming.py, Thresholds.confirmed)
# nothing in it told the stamp thresholds 0.6 and 0.7 apart. Nine more of opencv-doc's pictures that
# no photo of either set repeats (16x16 thumbnail correlation at most 0.71), labelled by looking;
# two carry boxes or circles a tutorial drew.
TUNING += [
    ("cv_mandrill.jpg", f"{OPENCV}/baboon.jpg", "object", "monkey", "monkey|mandrill|baboon", "mandrill's face, close"),
    (
        "cv_potted_plant.jpg",
        f"{OPENCV_HTML}/plant.jpg",
        "object",
        "plant",
        "plant|potted plant|pot plant|houseplant|flowerpot",
        "potted plant on a desk",
    ),
    ("cv_robin.jpg", f"{OPENCV_EXAMPLES}/hfs/data/000.jpg", "object", "robin", "robin", "European robin perched on a rail"),
    (
        "cv_car.jpg",
        f"{OPENCV}/licenseplate_motion.jpg",
        "object",
        "car",
        "car|cars|sedan|automobile",
        "back of a silver car, motion-blurred",
    ),
    (
        "cv_basketball_players.jpg",
        f"{OPENCV_HTML}/person_multi_det.jpg",
        "people",
        "person",
        "person|people|man|men|player|players",
        "people playing basketball outdoors, bicycles (boxes and axes drawn)",
    ),
    (
        "cv_campus.jpg",
        f"{OPENCV_HTML}/Background_Subtraction_Tutorial_frame.jpg",
        "people",
        "person",
        "person|people|man|men",
        "people walking across a campus, small",
    ),
    (
        "cv_face.jpg",
        f"{OPENCV_HTML}/Cascade_Classifier_Tutorial_Result_Haar.jpg",
        "people",
        "person",
        "person|woman|girl|people",
        "a woman's face (circles drawn round it)",
    ),
    (
        "cv_building.jpg",
        f"{OPENCV}/building.jpg",
        "place",
        "building",
        "building|hotel|office building",
        "modern hotel building behind a lawn",
    ),
    (
        "cv_street.jpg",
        f"{OPENCV}/leuvenA.jpg",
        "place",
        "street",
        "street|alley|houses|town|village",
        "cobbled street between old brick houses",
    ),
]
# Seventh round (2026-12-05): grown with 80 fresh photos, data/photos showed that places are rarely
# named (2 of Scratch's and Palapeli's 36 place photos), and this set had 7 places to choose their
# rules on. 32 more places, none of them in data/photos (Scratch's other basketball court, the same
# court as data/photos', was left out), labelled by looking: monuments of GCompris'
# explore_monuments, Scratch's other photographed backgrounds, five opencv-doc pictures.
TUNING += [
    *package_photos(
        "gc_",
        f"gc/{MON}",
        "place",
        [
            ("wonders/machuPicchu.webp", "ruins", "ruins|city|mountain|valley|terraces|alp", "Machu Picchu"),
            ("wonders/petra.webp", "temple", "temple|tomb|cliff|ruins|palace", "Petra's monastery"),
            ("wonders/chichenItza.webp", "pyramid", "pyramid|temple", "Chichen Itza"),
            ("wonders/greatWallofChina.webp", "wall", "wall|great wall|fortification|mountain|hill", "the Great Wall on hills"),
            ("usa/canyondeChelly.webp", "canyon", "canyon|valley|cliff|river", "Canyon de Chelly"),
            ("usa/lincolnMemorial.webp", "memorial", "memorial|temple|monument|building", "Lincoln Memorial at night"),
            ("usa/castillodeSanMarcos.webp", "fort", "fort|fortress|castle", "Castillo de San Marcos from above"),
            ("india/hawaMahal.webp", "palace", "palace", "Hawa Mahal"),
            ("india/greatStupa.webp", "stupa", "stupa|dome|temple", "the Great Stupa at Sanchi"),
            ("india/mysorePalace.webp", "palace", "palace|castle", "Mysore Palace"),
            ("india/gatewayofIndia.webp", "arch", "arch|gate|gateway|triumphal arch|monument", "Gateway of India at dusk"),
            ("egypt/greatPyramidOfGiza.webp", "pyramid", "pyramid", "the Great Pyramid"),
            ("france/reimsCathedral.webp", "cathedral", "cathedral|church", "Reims Cathedral"),
            ("france/eiffelTower.webp", "tower", "tower|eiffel tower", "the Eiffel Tower"),
            ("france/rocamadour.webp", "village", "village|town|cliff|valley", "Rocamadour on its cliff"),
            ("germany/neuschwansteinCastle.webp", "castle", "castle|palace", "Neuschwanstein"),
            ("germany/brandenburgGate.webp", "gate", "gate|arch|triumphal arch|monument", "Brandenburg Gate at night"),
            ("germany/berlinCathedral.webp", "cathedral", "cathedral|church|palace", "Berlin Cathedral"),
            ("germany/schwerinPalace.webp", "palace", "palace|castle", "Schwerin Palace by a lake"),
        ],
    ),
    *package_photos(
        "sc_",
        SCRATCH,
        "place",
        [
            ("Backgrounds/Outdoors/atom-playground.jpg", "playground", "playground|park", "climbing frame on a playground"),
            ("Backgrounds/Outdoors/driveway.jpg", "palace", "palace|castle|mansion|chateau|park", "a chateau at the end of a park's path"),
            ("Backgrounds/Outdoors/the-movies.jpg", "cinema", "cinema|movie theater|theater|theatre", "a cinema's entrance"),
            (
                "Backgrounds/Outdoors/building-at-mit.jpg",
                "building",
                "building|dormitory|apartment building|office building",
                "modern building behind a field",
            ),
            ("Backgrounds/Outdoors/building-fireproof.jpg", "warehouse", "warehouse|building|factory", "brick warehouse"),
            ("Backgrounds/Outdoors/brick-wall-and-stairs.jpg", "stairs", "stairs|staircase|steps", "steps with a railing by a brick wall"),
            ("Backgrounds/Sports/tennis-backboard.jpg", "tennis court", "tennis court|court", "tennis court with a practice wall"),
            ("Backgrounds/Outdoors/castle.jpg", "palace", "palace|castle|fortress", "the Palais des Papes"),
        ],
    ),
    (
        "cv_home.jpg",
        f"{OPENCV}/home.jpg",
        "place",
        "building",
        "building|palace|castle|mansion|church",
        "ornate yellow building with towers",
    ),
    (
        "cv_half_timbered.jpg",
        f"{OPENCV_HTML}/Harris_Detector_Original_Image.jpg",
        "place",
        "house",
        "house|houses|building",
        "half-timbered house",
    ),
    (
        "cv_heath.jpg",
        f"{OPENCV_HTML}/retina_TreeHdr_small.jpg",
        "place",
        "heath",
        "heath|moor|field|meadow|plain|grassland|savanna",
        "heath with a few trees",
    ),
    ("cv_corridor.jpg", f"{OPENCV_HTML}/corridor_fld.jpg", "place", "corridor", "corridor|hallway|hall", "glass-walled corridor"),
    (
        "cv_lecture_hall.jpg",
        f"{OPENCV_HTML}/studentsSample_input.jpg",
        "place",
        "lecture hall",
        "lecture hall|classroom|auditorium|hall",
        "lecture hall with a projection screen",
    ),
]
# The eighth round: example photos of GIMP's manual (cars, a truck, ducks, people: COCO's everyday
# things, which the tuning set had few of), labelled by looking before any model captioned them.
# Left out: screenshots, filtered copies, pictures with a tool's outline drawn on them.
TUNING += package_photos(
    "gh_",
    GIMP_HELP,
    "object",
    [
        ("tutorials/quickie-jpeg-example.jpg", "car", "car|cars|vintage car", "a red vintage car, a blue one behind"),
        ("tutorials/quickie-crop-example-source.jpg", "duck", "duck|mallard", "a duck on grass by the water"),
        ("tutorials/quickie-rotate-example-source.jpg", "window", "window|stained glass|stained glass window", "a stained glass window"),
        (
            "tutorials/tone-mapping/apple-orchard-truck-from-camera.jpg",
            "truck",
            "truck|pickup|pickup truck",
            "a pickup truck by an orchard",
        ),
        ("filters/examples/kvitveis-orig.png", "flower", "flower|anemone", "a pink anemone"),
        ("filters/examples/blur/mean_curvature-ex-1.jpg", "rose", "rose|roses|flower", "an orange rose"),
        ("filters/examples/distort/spherize-ex-orig.jpg", "flower", "flower|flowers|daisy|daisies|chamomile", "chamomile flowers"),
        ("filters/examples/light-and-shadow/vignette-ex-orig.jpg", "squirrel", "squirrel|squirrels", "a ground squirrel in grass"),
        ("using/duck_orig.png", "duck", "duck|ducks|duckling|ducklings", "two ducklings on grass"),
        ("using/fog-tree-example.png", "tree", "tree|trees", "a tree in fog"),
        ("filters/examples/enhance/high-pass-origin.png", "chimpanzee", "chimpanzee|chimp|ape", "a chimpanzee"),
    ],
) + [
    (
        "gh_quickie_flip_example_source.jpg",
        f"{GIMP_HELP}/tutorials/quickie-flip-example-source.jpg",
        "people",
        "person",
        "person|people|man|men|group of people|soldier|soldiers",
        "soldiers in red tunics on a lawn",
    ),
    (
        "gh_quickie_scale_example.jpg",
        f"{GIMP_HELP}/tutorials/quickie-scale-example.jpg",
        "place",
        "castle",
        "castle|fortress",
        "Edinburgh Castle on its rock",
    ),
]
README_NAMES = {"screwDriver.webp": "screDriver.webp"}  # as the GCompris README spells it
FIELDS = ["file", "main_object", "known", "accepted", "category", "source", "licence", "note", "kind"]


def gcompris_licence(path: Path) -> str:
    """'<License> (<Copyright>; original <Source>)' from the README beside a GCompris image."""
    readme = next(p / "README" for p in (path.parent, path.parent.parent) if (p / "README").is_file())
    blocks = readme.read_text(errors="replace").split("\n\n")
    for block in blocks:
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line and not line.startswith(" "))
        # a file per line after "Files:", or on that line itself ("Files: alpaca.webp")
        files = [line.removeprefix("Files:").strip().split("/")[-1] for line in block.splitlines()]
        if README_NAMES.get(path.name, path.name) in files:
            return f"{fields.get('License', '?').strip()} ({fields.get('Copyright', '?').strip()}; original {fields.get('Source', '?').strip()})"
    raise SystemExit(f"no licence for {path} in its README")


def dep5_licence(copyright_file: Path, name: str) -> str:
    """'<License> (<Copyright>; Debian copyright)' of the stanza of a machine-readable Debian
    copyright file whose Files list a file called `name`."""
    for block in copyright_file.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        lines = block.splitlines()
        files = [w.split("/")[-1] for line in lines if line.startswith(("Files:", " ")) for w in line.removeprefix("Files:").split()]
        if name in files:
            fields = dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith(" "))
            return f"{fields['License'].strip()} ({fields['Copyright'].strip()}; Debian copyright)"
    raise SystemExit(f"no licence for {name} in {copyright_file}")


def source_path(root: Path, source: str) -> tuple[Path, str, str]:
    """(file, where it is from, licence)."""
    if source.startswith("skimage:"):
        import skimage

        name = source.split(":", 1)[1]
        licence = {
            "astronaut.png": "Public domain (NASA; scikit-image's data README)",
            "camera.png": "CC0 (photographer Lav Varshney; scikit-image's data README)",
        }[name]
        return Path(skimage.__file__).parent / "data" / name, f"scikit-image {skimage.__version__} wheel: skimage/data/{name}", licence
    if source.startswith("matplotlib:"):
        import matplotlib

        name = source.split(":", 1)[1]
        return (
            Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / name,
            f"matplotlib {matplotlib.__version__} wheel: mpl-data/sample_data/{name}",
            "Public domain (US Navy photograph)",
        )
    path = root / source
    if source.startswith("gc/"):
        rcc = source.split("/")[1]
        return path, f"gcompris-qt-data 3.1-2: {rcc}.rcc {'/'.join(source.split('/')[-3:])}", gcompris_licence(path)
    if source.startswith(SCRATCH):
        return path, f"scratch 1.4.0.6~dfsg1-6.1: usr/share/scratch/Media/{source.removeprefix(SCRATCH + '/')}", SCRATCH_LICENCE
    if source.startswith(PALAPELI):
        desktop = dict(line.split("=", 1) for line in path.with_suffix(".desktop").read_text().splitlines() if "=" in line)
        author, licence = desktop["X-KDE-PluginInfo-Author"], desktop["X-KDE-PluginInfo-License"]
        return path, f"palapeli-data 4:22.12.3-1: usr/share/palapeli/collection/{path.name}", f"{licence} ({author}; its .desktop file)"
    if source.startswith(GIMP_HELP):
        return path, f"gimp-help-en 2.10.34-2: {source.removeprefix('ex/')}", GIMP_HELP_LICENCE
    if source.startswith(PLASMA):
        name = source.removeprefix(PLASMA + "/").split("/")[0]
        plugin = json.loads((root / PLASMA / name / "metadata.json").read_text(encoding="utf-8"))["KPlugin"]
        authors = ", ".join(a["Name"] for a in plugin.get("Authors", []))
        licence = f"{plugin.get('License', '?')} ({authors}; its metadata.json; Debian copyright Files: * GPL-2+)"
        return path, f"plasma-workspace-wallpapers 4:5.27.5-2: {source.removeprefix('ex/')}", licence
    if source.startswith(LOMIRI):
        origin, package = next(v for folder, v in WALLPAPER_PACKAGES.items() if source.startswith(folder))
        licence = dep5_licence(root / "ex/usr/share/doc" / package / "copyright", path.name)
        return path, f"{origin}: {source.removeprefix('ex/')}", licence
    if source.startswith((OPENCV_EXAMPLES, OPENCV_HTML)):
        return path, f"opencv-doc 4.6.0+dfsg-12: {source.removeprefix('ex/')}", OPENCV_LICENCE
    return path, f"darknet 0.0.0+git20180914.61c9d02e-2: usr/share/darknet/data/{path.name}", DARKNET_LICENCE


def add(root: Path, folder: Path, entries: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "photos.csv"
    rows = list(csv.DictReader(table.open(newline="", encoding="utf-8"))) if table.is_file() else []
    ending = "\r\n" if table.is_file() and b"\r\n" in table.read_bytes()[:4096] else "\n"  # as the table has it
    for row in rows:
        row.setdefault("kind", "object")
        row["kind"] = row.get("kind") or "object"
    done = {r["file"] for r in rows}
    for file, source, kind, main, accepted, note in entries:
        if file in done:
            continue
        path, origin, licence = source_path(root, source)
        image = Image.open(path)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:  # a cut-out: onto white, as a page shows it
            image = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
        image = image.convert("RGB")
        image.thumbnail((512, 512), Image.Resampling.LANCZOS)
        image.save(folder / file, quality=85)
        rows.append(
            {
                "file": file,
                "main_object": main,
                "known": "",
                "accepted": accepted,
                "category": "",
                "source": origin,
                "licence": licence,
                "note": note,
                "kind": kind,
            }
        )
    with table.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator=ending)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{table}: {len(rows)} photos")


if __name__ == "__main__":
    root = Path(sys.argv[1])
    add(root, REPO / "data" / "photos", EVALUATION)
    add(root, REPO / "data" / "photos-tuning", TUNING)
