"""Make captioner/recognition/imagenet_names.csv: ImageNet-1k's classes -> the everyday name, its
plural, its category, and whether a caption may use it.

Run once (the table is committed, and reviewed by looking at it; runtime needs neither WordNet nor nltk):

    apt-get install wordnet-base        # WordNet 3.0, /usr/share/wordnet
    python scripts/make_imagenet_names.py [--wordnet /usr/share/wordnet] [--out captioner/recognition/imagenet_names.csv]

ImageNet's class ids (timm ships them, in class order) are WordNet 3.0 noun offsets. A class's
everyday name is the nearest synset on its hypernym paths that BASIC names ("tabby" -> domestic_cat
-> "cat"; every dog breed -> "dog"), else a name written for that class (NAMES), else the synset's
first lemma. Its category is the nearest CATEGORIES anchor. Plurals: WordNet's own exception list
(noun.exc, read backwards: "geese" -> "goose"), then English spelling rules.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import shutil
import tempfile
from pathlib import Path

from captioner.recognition.names import regular_plural

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "captioner" / "recognition" / "imagenet_names.csv"

# Synset -> the name people use for everything under it (nearest on the path wins).
BASIC = {
    # animals
    "dog.n.01": "dog",
    "wolf.n.01": "wolf",
    "fox.n.01": "fox",
    "domestic_cat.n.01": "cat",
    "bear.n.01": "bear",
    "monkey.n.01": "monkey",
    "lemur.n.01": "lemur",
    "elephant.n.01": "elephant",
    "mammoth.n.01": "elephant",
    "rabbit.n.01": "rabbit",
    "hare.n.01": "rabbit",
    "squirrel.n.01": "squirrel",
    "swine.n.01": "pig",
    "antelope.n.01": "antelope",
    "sheep.n.01": "sheep",
    "goat.n.01": "goat",
    "musteline_mammal.n.01": "weasel",
    "whale.n.02": "whale",
    "shark.n.01": "shark",
    "ray.n.07": "ray",
    "eel.n.02": "eel",
    "turtle.n.02": "turtle",
    "lizard.n.01": "lizard",
    "snake.n.01": "snake",
    "frog.n.01": "frog",
    "salamander.n.01": "salamander",
    "crocodilian_reptile.n.01": "crocodile",
    "spider.n.01": "spider",
    "beetle.n.01": "beetle",
    "butterfly.n.01": "butterfly",
    "crab.n.01": "crab",
    "lobster.n.02": "lobster",
    "snail.n.01": "snail",
    "parrot.n.01": "parrot",
    "owl.n.01": "owl",
    "duck.n.01": "duck",
    "goose.n.01": "goose",
    "swan.n.01": "swan",
    "penguin.n.01": "penguin",
    "eagle.n.01": "eagle",
    "stork.n.01": "stork",
    "heron.n.02": "heron",
    "grouse.n.02": "bird",
    "bird.n.01": "bird",
    "fish.n.01": "fish",
    "dinosaur.n.01": "dinosaur",
    "wildcat.n.03": "wildcat",
    "kangaroo.n.01": "kangaroo",
    "dragonfly.n.01": "dragonfly",
    "damselfly.n.01": "dragonfly",
    # vehicles
    "bus.n.04": "bus",
    "locomotive.n.01": "train",
    "car.n.02": "train",  # car.n.02: a railway car
    "sailing_vessel.n.01": "sailboat",
    "bicycle.n.01": "bicycle",
    "truck.n.01": "truck",
}

# Written for one class (its synset) where neither BASIC nor the first lemma is what people say.
NAMES = {
    # Bony fish stay "fish" (the basic level): on the tuning photos "goldfish" fired on other fish.
    "cock.n.05": "rooster",
    "hen.n.02": "hen",
    "ostrich.n.02": "ostrich",
    "magpie.n.01": "magpie",
    "bald_eagle.n.01": "eagle",
    "vulture.n.01": "vulture",
    "great_grey_owl.n.01": "owl",
    "peacock.n.02": "peacock",
    "quail.n.02": "quail",
    "hummingbird.n.01": "hummingbird",
    "toucan.n.01": "toucan",
    "drake.n.02": "duck",
    "flamingo.n.01": "flamingo",
    "crane.n.05": "crane",
    "pelican.n.01": "pelican",
    "king_penguin.n.01": "penguin",
    "albatross.n.02": "albatross",
    "hornbill.n.01": "hornbill",
    "spoonbill.n.01": "spoonbill",
    "american_egret.n.01": "egret",
    "little_blue_heron.n.01": "heron",
    "black_swan.n.01": "swan",
    "african_chameleon.n.01": "chameleon",
    "komodo_dragon.n.01": "komodo dragon",
    "common_iguana.n.01": "iguana",
    "american_alligator.n.01": "alligator",
    "african_crocodile.n.01": "crocodile",
    "triceratops.n.01": "dinosaur",
    "banded_gecko.n.01": "gecko",
    "axolotl.n.01": "axolotl",
    "tree_frog.n.02": "tree frog",
    "timber_wolf.n.01": "wolf",
    "white_wolf.n.01": "wolf",
    "red_wolf.n.01": "wolf",
    "coyote.n.01": "coyote",
    "dingo.n.01": "dingo",
    "dhole.n.01": "wild dog",
    "african_hunting_dog.n.01": "wild dog",
    "hyena.n.01": "hyena",
    "cougar.n.01": "puma",
    "lynx.n.02": "lynx",
    "leopard.n.02": "leopard",
    "snow_leopard.n.01": "snow leopard",
    "jaguar.n.01": "jaguar",
    "lion.n.01": "lion",
    "tiger.n.02": "tiger",
    "cheetah.n.01": "cheetah",
    "ice_bear.n.01": "polar bear",
    "giant_panda.n.01": "panda",
    "lesser_panda.n.01": "red panda",
    "mongoose.n.01": "mongoose",
    "meerkat.n.01": "meerkat",
    "tiger_beetle.n.01": "beetle",
    "ladybug.n.01": "ladybird",
    "fly.n.01": "fly",
    "bee.n.01": "bee",
    "ant.n.01": "ant",
    "grasshopper.n.01": "grasshopper",
    "cricket.n.01": "cricket",
    "walking_stick.n.02": "stick insect",
    "cockroach.n.01": "cockroach",
    "mantis.n.01": "mantis",
    "cicada.n.01": "cicada",
    "leafhopper.n.01": "insect",
    "lacewing.n.01": "insect",
    "scorpion.n.03": "scorpion",
    "tick.n.02": "tick",
    "centipede.n.01": "centipede",
    "trilobite.n.01": "trilobite",
    "harvestman.n.01": "spider",
    "jellyfish.n.02": "jellyfish",
    "sea_anemone.n.01": "sea anemone",
    "brain_coral.n.01": "coral",
    "flatworm.n.01": "worm",
    "conch.n.01": "shell",
    "chambered_nautilus.n.01": "nautilus",
    "chiton.n.02": "shell",
    "slug.n.07": "slug",
    "sea_slug.n.01": "sea slug",
    "sea_urchin.n.01": "sea urchin",
    "starfish.n.01": "starfish",
    "sea_cucumber.n.01": "sea cucumber",
    "isopod.n.01": "woodlouse",
    "crayfish.n.03": "crayfish",
    "hermit_crab.n.01": "hermit crab",
    "hamster.n.01": "hamster",
    "porcupine.n.01": "porcupine",
    "marmot.n.01": "marmot",
    "beaver.n.07": "beaver",
    "guinea_pig.n.02": "guinea pig",
    "hippopotamus.n.01": "hippo",
    "wild_boar.n.01": "boar",
    "warthog.n.01": "warthog",
    "ox.n.01": "cow",
    "water_buffalo.n.01": "buffalo",
    "bison.n.01": "bison",
    "ram.n.05": "sheep",
    "bighorn.n.02": "sheep",
    "ibex.n.01": "ibex",
    "arabian_camel.n.01": "camel",
    "llama.n.01": "llama",
    "sorrel.n.05": "horse",
    "zebra.n.01": "zebra",
    "black-footed_ferret.n.01": "ferret",
    "otter.n.02": "otter",
    "skunk.n.04": "skunk",
    "badger.n.02": "badger",
    "armadillo.n.01": "armadillo",
    "three-toed_sloth.n.01": "sloth",
    "orangutan.n.01": "orangutan",
    "gorilla.n.01": "gorilla",
    "chimpanzee.n.01": "chimpanzee",
    "gibbon.n.02": "gibbon",
    "siamang.n.01": "gibbon",
    "baboon.n.01": "baboon",
    "koala.n.01": "koala",
    "wombat.n.01": "wombat",
    # ImageNet-1k has no kangaroo class: kangaroos land on "wallaby", which WordNet files under
    # kangaroo, so "kangaroo" is true of both (gc_kangaroo: wallaby 1.00, and a wrong "wallaby")
    "wallaby.n.01": "kangaroo",
    "echidna.n.02": "echidna",
    "platypus.n.01": "platypus",
    "grey_whale.n.01": "whale",
    "killer_whale.n.01": "orca",
    "dugong.n.01": "dugong",
    "sea_lion.n.01": "sea lion",
    "tusker.n.01": "elephant",
    "hog.n.03": "pig",
    "indri.n.01": "lemur",
    "madagascar_cat.n.01": "lemur",
    "mink.n.03": "mink",
    # vehicles and craft
    "ambulance.n.01": "ambulance",
    "beach_wagon.n.01": "car",
    "cab.n.03": "taxi",
    "convertible.n.01": "car",
    "jeep.n.01": "jeep",
    "limousine.n.01": "limousine",
    "minivan.n.01": "van",
    "model_t.n.01": "car",
    "racer.n.02": "race car",
    "sports_car.n.01": "car",
    "police_van.n.01": "police van",
    "moving_van.n.01": "van",
    "fire_engine.n.01": "fire truck",
    "garbage_truck.n.01": "garbage truck",
    "pickup.n.01": "pickup truck",
    "tow_truck.n.01": "tow truck",
    "trailer_truck.n.01": "truck",
    "tractor.n.01": "tractor",
    "forklift.n.01": "forklift",
    "golfcart.n.01": "golf cart",
    "go-kart.n.01": "go-kart",
    "snowmobile.n.01": "snowmobile",
    "snowplow.n.01": "snowplow",
    "harvester.n.02": "combine harvester",
    "tank.n.01": "tank",
    "half_track.n.01": "military vehicle",
    "amphibian.n.01": "amphibious vehicle",
    "recreational_vehicle.n.01": "camper van",
    "motor_scooter.n.01": "scooter",
    # no motorcycle class in ImageNet-1k: motorcycles land on "moped", a kind of motorcycle in WordNet
    "moped.n.01": "motorcycle",
    "mountain_bike.n.01": "bicycle",
    "bicycle-built-for-two.n.01": "tandem bicycle",
    "tricycle.n.01": "tricycle",
    "unicycle.n.01": "unicycle",
    "jinrikisha.n.01": "rickshaw",
    "horse_cart.n.01": "horse cart",
    "oxcart.n.01": "cart",
    "barrow.n.03": "wheelbarrow",
    "shopping_cart.n.01": "shopping cart",
    "crane.n.04": "crane",
    "streetcar.n.01": "tram",
    "bullet_train.n.01": "train",
    "passenger_car.n.01": "train",
    "freight_car.n.01": "train",
    "canoe.n.01": "canoe",
    "speedboat.n.01": "speedboat",
    "lifeboat.n.01": "lifeboat",
    "fireboat.n.01": "fireboat",
    "gondola.n.02": "gondola",
    "catamaran.n.01": "catamaran",
    "trimaran.n.01": "trimaran",
    "pirate.n.03": "ship",
    "aircraft_carrier.n.01": "aircraft carrier",
    "container_ship.n.01": "ship",
    "liner.n.04": "ship",
    "wreck.n.04": "shipwreck",
    "submarine.n.01": "submarine",
    "paddlewheel.n.01": "paddle wheel",
    "airliner.n.01": "airplane",
    "warplane.n.01": "airplane",
    "airship.n.01": "airship",
    "balloon.n.01": "balloon",
    "space_shuttle.n.01": "space shuttle",
    "missile.n.01": "rocket",
    "projectile.n.01": "rocket",
    "wing.n.02": "airplane",
    "bobsled.n.02": "bobsleigh",
    "dogsled.n.01": "dog sled",
    "parachute.n.01": "parachute",
    "school_bus.n.01": "school bus",
    "trolleybus.n.01": "bus",
    "minibus.n.01": "minibus",
    "mobile_home.n.01": "mobile home",
    # things whose first lemma is not the everyday word
    "ashcan.n.01": "trash can",
    "ballpoint.n.01": "pen",
    "band_aid.n.01": "plaster",
    "bannister.n.02": "banister",
    "barrel.n.02": "barrel",
    "baseball.n.02": "baseball",
    "basketball.n.02": "basketball",
    "bassinet.n.01": "cradle",
    "beacon.n.03": "lighthouse",
    "beer_glass.n.01": "glass",
    "bell_cote.n.01": "bell tower",
    "binder.n.03": "binder",
    "bow.n.04": "bow",
    "brass.n.07": "brass plaque",
    "caldron.n.01": "cauldron",
    "carpenter's_kit.n.01": "toolbox",
    "car_mirror.n.01": "car mirror",
    "car_wheel.n.01": "wheel",
    "cash_machine.n.01": "cash machine",
    "cellular_telephone.n.01": "mobile phone",
    "chain.n.03": "chain",
    "chest.n.02": "chest",
    "chiffonier.n.01": "chest of drawers",
    "chime.n.01": "wind chime",
    "christmas_stocking.n.01": "christmas stocking",
    "church.n.02": "church",
    "cinema.n.02": "cinema",
    "coffee_mug.n.01": "mug",
    "coffeepot.n.01": "coffee pot",
    "coil.n.01": "coil",
    "computer_keyboard.n.01": "keyboard",
    "confectionery.n.02": "sweet shop",
    "crock_pot.n.01": "slow cooker",
    "crib.n.01": "cot",
    "desktop_computer.n.01": "computer",
    "dial_telephone.n.01": "telephone",
    "digital_watch.n.01": "watch",
    "dining_table.n.01": "table",
    "dock.n.05": "dock",
    "drum.n.01": "drum",
    "drumstick.n.02": "drumstick",
    "dutch_oven.n.01": "pot",
    "electric_fan.n.01": "fan",
    "electric_guitar.n.01": "guitar",
    "acoustic_guitar.n.01": "guitar",
    "entertainment_center.n.01": "tv cabinet",
    "espresso_maker.n.01": "coffee machine",
    "file.n.03": "filing cabinet",
    "fire_screen.n.01": "fire screen",
    "flagpole.n.02": "flagpole",
    "folding_chair.n.01": "chair",
    "four-poster.n.01": "bed",
    "french_horn.n.01": "horn",
    "frying_pan.n.01": "frying pan",
    "gasmask.n.01": "gas mask",
    "gas_pump.n.01": "petrol pump",
    "grand_piano.n.01": "piano",
    "upright.n.02": "piano",
    "grille.n.02": "car grille",
    "hair_slide.n.01": "hair slide",
    "hammer.n.02": "hammer",
    "hamper.n.02": "basket",
    "hand_blower.n.01": "hair dryer",
    "hand-held_computer.n.01": "handheld computer",
    "hard_disc.n.01": "hard disk",
    "hatchet.n.02": "hatchet",
    "home_theater.n.01": "home cinema",
    "hook.n.04": "hook",
    "horizontal_bar.n.01": "horizontal bar",
    "iron.n.04": "iron",
    "jack-o'-lantern.n.02": "jack-o'-lantern",
    "jean.n.01": "jeans",
    "jersey.n.03": "t-shirt",
    "joystick.n.02": "joystick",
    "knot.n.02": "knot",
    "lab_coat.n.01": "lab coat",
    "laptop.n.01": "laptop",
    "lawn_mower.n.01": "lawn mower",
    "library.n.05": "library",
    "lighter.n.02": "lighter",
    "loafer.n.02": "shoe",
    "loudspeaker.n.01": "loudspeaker",
    "loupe.n.01": "magnifying glass",
    "lumbermill.n.01": "sawmill",
    "espresso.n.01": "cup of coffee",
    "magnetic_compass.n.01": "compass",
    "mailbag.n.02": "bag",
    "maillot.n.01": "swimsuit",
    "maillot.n.02": "leotard",
    "manhole_cover.n.01": "manhole cover",
    "measuring_cup.n.01": "measuring jug",
    "medicine_chest.n.01": "medicine cabinet",
    "megalith.n.01": "standing stones",
    "microwave.n.02": "microwave",
    "milk_can.n.01": "milk churn",
    "mixing_bowl.n.01": "bowl",
    "monitor.n.05": "monitor",
    "mortar.n.03": "mortar and pestle",
    "mountain_tent.n.01": "tent",
    "mouse.n.04": "computer mouse",
    "nail.n.02": "nail",
    "necklace.n.01": "necklace",
    "nipple.n.02": "baby bottle",
    "notebook.n.02": "laptop",
    "organ.n.05": "organ",
    "packet.n.03": "packet",
    "paddle.n.04": "paddle",
    "pajama.n.02": "pyjamas",
    "palace.n.04": "palace",
    "panpipe.n.01": "pan pipes",
    "park_bench.n.01": "bench",
    "pay-phone.n.01": "payphone",
    "pedestal.n.03": "pedestal",
    "pencil_box.n.01": "pencil case",
    "perfume.n.02": "perfume",
    "pick.n.05": "plectrum",
    "pickelhaube.n.01": "helmet",
    "pier.n.03": "pier",
    "pill_bottle.n.01": "pill bottle",
    "ping-pong_ball.n.01": "ping-pong ball",
    "pinwheel.n.02": "pinwheel",
    "pitcher.n.02": "jug",
    "plane.n.05": "plane",
    "plate.n.08": "plate",
    "plow.n.01": "plough",
    "plunger.n.03": "plunger",
    "polaroid_camera.n.01": "camera",
    "reflex_camera.n.01": "camera",
    "pole.n.01": "pole",
    "pot.n.04": "flowerpot",
    "potter's_wheel.n.01": "potter's wheel",
    "power_drill.n.01": "drill",
    "printer.n.02": "printer",
    "projector.n.02": "projector",
    "puck.n.02": "hockey puck",
    "punching_bag.n.02": "punching bag",
    "purse.n.03": "purse",
    "racket.n.04": "tennis racket",
    "radiator.n.03": "radiator",
    "radio.n.03": "radio",
    "rain_barrel.n.01": "water butt",
    "reel.n.03": "fishing reel",
    "refrigerator.n.01": "fridge",
    "rubber_eraser.n.01": "eraser",
    "rule.n.12": "ruler",
    "running_shoe.n.01": "trainer",
    "safe.n.01": "safe",
    "sax.n.02": "saxophone",
    "scale.n.07": "scales",
    "screen.n.03": "screen",
    "screw.n.04": "screw",
    "shield.n.02": "shield",
    "shoe_shop.n.01": "shoe shop",
    "shoji.n.01": "paper screen",
    "slot.n.07": "slot machine",
    "soccer_ball.n.01": "football",
    "solar_dish.n.01": "solar collector",
    "soup_bowl.n.01": "bowl",
    "space_bar.n.01": "space bar",
    "spider_web.n.01": "spider web",
    "spindle.n.04": "spindle",
    "stage.n.03": "stage",
    "steel_drum.n.01": "steel drum",
    "stole.n.01": "stole",
    "stove.n.02": "stove",
    "stretcher.n.03": "stretcher",
    "studio_couch.n.01": "sofa bed",
    "suit.n.01": "suit",
    "sunglass.n.01": "lens",
    "sunglasses.n.01": "sunglasses",
    "swab.n.02": "mop",
    "swing.n.02": "swing",
    "switch.n.01": "switch",
    "table_lamp.n.01": "lamp",
    "tape_player.n.01": "tape player",
    "teddy.n.01": "teddy bear",
    "television.n.02": "television",
    "thatch.n.04": "thatched roof",
    "thimble.n.02": "thimble",
    "thresher.n.01": "threshing machine",
    "toaster.n.02": "toaster",
    "toilet_seat.n.01": "toilet",
    "torch.n.01": "torch",
    "tray.n.01": "tray",
    "tub.n.02": "tub",
    "typewriter_keyboard.n.01": "typewriter",
    "vacuum.n.04": "vacuum cleaner",
    "vault.n.03": "vaulted ceiling",
    "vestment.n.01": "vestment",
    "washbasin.n.02": "sink",
    "washer.n.03": "washing machine",
    "water_jug.n.01": "water jug",
    "whiskey_jug.n.01": "jug",
    "whistle.n.04": "whistle",
    "windsor_tie.n.01": "tie",
    "bolo_tie.n.01": "tie",
    "bow_tie.n.01": "bow tie",
    "wok.n.01": "wok",
    "wooden_spoon.n.02": "wooden spoon",
    "worm_fence.n.01": "fence",
    "picket_fence.n.01": "fence",
    "chainlink_fence.n.01": "fence",
    "yawl.n.01": "sailboat",
    "schooner.n.02": "sailboat",
    "street_sign.n.01": "sign",
    "traffic_light.n.01": "traffic light",
    "cup.n.06": "cup",
    "hot_pot.n.01": "stew",
    "french_loaf.n.01": "bread",
    "hotdog.n.02": "hot dog",
    "head_cabbage.n.02": "cabbage",
    "broccoli.n.02": "broccoli",
    "cauliflower.n.02": "cauliflower",
    "zucchini.n.02": "courgette",
    "spaghetti_squash.n.02": "squash",
    "acorn_squash.n.02": "squash",
    "butternut_squash.n.02": "squash",
    "cucumber.n.02": "cucumber",
    "artichoke.n.02": "artichoke",
    "bell_pepper.n.02": "pepper",
    "cardoon.n.02": "cardoon",
    "mushroom.n.05": "mushroom",
    "granny_smith.n.01": "apple",
    "fig.n.04": "fig",
    "pineapple.n.02": "pineapple",
    "banana.n.02": "banana",
    "jackfruit.n.02": "jackfruit",
    "custard_apple.n.02": "custard apple",
    "pomegranate.n.02": "pomegranate",
    "hay.n.01": "hay",
    "carbonara.n.01": "pasta",
    "chocolate_sauce.n.01": "chocolate sauce",
    "dough.n.01": "dough",
    "meat_loaf.n.01": "meat loaf",
    "potpie.n.01": "pie",
    "red_wine.n.01": "wine",
    "mashed_potato.n.01": "mashed potato",
    "ice_lolly.n.01": "ice lolly",
    "consomme.n.01": "soup",
    "trifle.n.01": "trifle",
    "eggnog.n.01": "drink",
    "agaric.n.02": "mushroom",
    "bolete.n.01": "mushroom",
    "hen-of-the-woods.n.01": "mushroom",
    "coral_fungus.n.01": "fungus",
    "gyromitra.n.01": "mushroom",
    "stinkhorn.n.01": "mushroom",
    "earthstar.n.01": "fungus",
    "ear.n.05": "corn",
    "corn.n.02": "corn",
    "acorn.n.01": "acorn",
    "hip.n.05": "rose hip",
    "buckeye.n.01": "conker",
    "rapeseed.n.01": "seeds",
    "daisy.n.01": "daisy",
    "yellow_lady's_slipper.n.01": "orchid",
    "groom.n.01": "person",
    "scuba_diver.n.01": "person",
    "ballplayer.n.01": "person",
    "seashore.n.01": "beach",
    "alp.n.01": "mountain",
    "lakeside.n.01": "lake",
    "promontory.n.01": "headland",
    "sandbar.n.01": "sandbank",
    "coral_reef.n.01": "coral reef",
    "geyser.n.01": "geyser",
    "valley.n.01": "valley",
    "volcano.n.02": "volcano",
    "cliff.n.01": "cliff",
    "boathouse.n.01": "boathouse",
    "cliff_dwelling.n.01": "cliff dwelling",
    "steel_arch_bridge.n.01": "bridge",
    "suspension_bridge.n.01": "bridge",
    "viaduct.n.01": "viaduct",
    "triumphal_arch.n.01": "triumphal arch",
    "water_tower.n.01": "water tower",
    "stupa.n.01": "stupa",
    "dome.n.04": "dome",
    "drilling_platform.n.01": "oil platform",
    "breakwater.n.01": "breakwater",
    "dam.n.01": "dam",
    "patio.n.01": "patio",
    "tile_roof.n.01": "roof",
    "stone_wall.n.01": "stone wall",
    "totem_pole.n.01": "totem pole",
    "maze.n.01": "maze",
    "radio_telescope.n.01": "radio telescope",
    "apiary.n.01": "beehive",
    "birdhouse.n.01": "birdhouse",
    "yurt.n.01": "yurt",
    "carousel.n.02": "carousel",
    "grocery_store.n.01": "shop",
    "tobacco_shop.n.01": "shop",
    "toyshop.n.01": "toy shop",
    "bookshop.n.01": "bookshop",
    "butcher_shop.n.01": "butcher's shop",
    "barbershop.n.01": "barber's shop",
    "bakery.n.01": "bakery",
    "altar.n.02": "altar",
    "throne.n.01": "throne",
    "fountain.n.01": "fountain",
}

# Places: the class's name after "a photo of", and the phrase a caption ends with.
PLACES = {
    "seashore.n.01": "on a beach",
    "alp.n.01": "in the mountains",
    "lakeside.n.01": "by a lake",
    "promontory.n.01": "on a headland",
    "sandbar.n.01": "on a sandbank",
    "coral_reef.n.01": "on a coral reef",
    "geyser.n.01": "by a geyser",
    "valley.n.01": "in a valley",
    "volcano.n.02": "by a volcano",
    "cliff.n.01": "on a cliff",
    "restaurant.n.01": "in a restaurant",
    "library.n.05": "in a library",
    "barn.n.01": "by a barn",
    "boathouse.n.01": "by a boathouse",
    "church.n.02": "by a church",
    "mosque.n.01": "by a mosque",
    "palace.n.04": "by a palace",
    "castle.n.02": "by a castle",
    "monastery.n.01": "by a monastery",
    "cinema.n.02": "at a cinema",
    "planetarium.n.01": "by a planetarium",
    "greenhouse.n.01": "in a greenhouse",
    "bakery.n.01": "in a bakery",
    "barbershop.n.01": "in a barber's shop",
    "bookshop.n.01": "in a bookshop",
    "butcher_shop.n.01": "in a butcher's shop",
    "confectionery.n.02": "in a sweet shop",
    "grocery_store.n.01": "in a shop",
    "shoe_shop.n.01": "in a shoe shop",
    "tobacco_shop.n.01": "in a shop",
    "toyshop.n.01": "in a toy shop",
    "prison.n.01": "by a prison",
    "dock.n.05": "at a dock",
    "pier.n.03": "on a pier",
    "steel_arch_bridge.n.01": "by a bridge",
    "suspension_bridge.n.01": "by a bridge",
    "viaduct.n.01": "by a viaduct",
    "stupa.n.01": "by a stupa",
    "triumphal_arch.n.01": "by a triumphal arch",
    "dam.n.01": "by a dam",
    "breakwater.n.01": "by a breakwater",
    "lumbermill.n.01": "at a sawmill",
    "cliff_dwelling.n.01": "by a cliff dwelling",
    "megalith.n.01": "by standing stones",
    "patio.n.01": "on a patio",
    "water_tower.n.01": "by a water tower",
    "obelisk.n.01": "by an obelisk",
    "drilling_platform.n.01": "by an oil platform",
    "fountain.n.01": "by a fountain",
    "apiary.n.01": "by beehives",
    "stage.n.03": "on a stage",
}

# ImageNet classes that are people (no other class is a person).
PEOPLE = {"groom.n.01", "scuba_diver.n.01", "ballplayer.n.01"}

# Classes a caption should not use, with the reason (reviewed on photos).
EXCLUDE = {
    "web_site.n.01": "a screen image, not a thing in a photo",
    "comic_book.n.01": "fires on any printed or drawn picture",
    "crossword_puzzle.n.01": "fires on grids and text",
    "book_jacket.n.01": "fires on any picture with text",
    "menu.n.02": "fires on text",
    "jigsaw_puzzle.n.01": "fires on busy textures",
    "envelope.n.01": "fires on plain paper-like backgrounds",
    "window_screen.n.01": "a texture class: fires on mesh and backgrounds",
    "window_shade.n.01": "fires on plain backgrounds",
    "shower_curtain.n.01": "fires on plain and draped backgrounds",
    "theater_curtain.n.01": "fires on draped backgrounds",
    "velvet.n.01": "a texture class",
    "wool.n.01": "a texture class",
    "honeycomb.n.02": "a texture class",
    "chain_mail.n.01": "a texture class",
    "doormat.n.02": "a texture class",
    "prayer_rug.n.01": "a texture class",
    "dishrag.n.01": "a texture class",
    "paper_towel.n.01": "fires on white backgrounds",
    "handkerchief.n.01": "a texture class",
    "nematode.n.01": "fires on thin lines on plain backgrounds",
    "bubble.n.01": "fires on blurred backgrounds",
    "spotlight.n.02": "fires on lights in dark scenes",
    "mosquito_net.n.01": "fires on hazy backgrounds",
    "quilt.n.01": "a texture class",
    "mask.n.01": "fires on faces",
    "ski_mask.n.01": "fires on faces",
    "wig.n.01": "fires on people's hair",
    "face_powder.n.01": "fires on faces",
    "lipstick.n.01": "fires on faces",
    "sunglass.n.01": "fires on faces",
    "hair_spray.n.01": "rarely the subject",
    "lens_cap.n.01": "fires on dark round shapes",
    "matchstick.n.01": "fires on thin sticks",
    "packet.n.03": "fires on any packaging and text",
    "maze.n.01": "fires on hedges and patterns",
    "space_bar.n.01": "fires on keyboards as a whole",
    "bib.n.01": "worn by a person: names the clothes in a portrait",
    "brassiere.n.01": "worn by a person: names the clothes in a portrait",
    "swimming_trunks.n.01": "worn by a person: names the clothes in a portrait",
    "bikini.n.02": "worn by a person: names the clothes in a portrait",
    "maillot.n.01": "worn by a person: names the clothes in a portrait",
    "maillot.n.02": "worn by a person: names the clothes in a portrait",
    "miniskirt.n.01": "worn by a person: names the clothes in a portrait",
    "sarong.n.01": "worn by a person: names the clothes in a portrait",
    "diaper.n.01": "worn by a person: names the clothes in a portrait",
    "pajama.n.02": "worn by a person: names the clothes in a portrait",
    "suit.n.01": "worn by a person: names the clothes in a portrait",
    "jersey.n.03": "worn by a person: names the clothes in a portrait",
    "sweatshirt.n.01": "worn by a person: names the clothes in a portrait",
    "cardigan.n.01": "worn by a person: names the clothes in a portrait",
    "lab_coat.n.01": "worn by a person: names the clothes in a portrait",
    "trench_coat.n.01": "worn by a person: names the clothes in a portrait",
    "military_uniform.n.01": "worn by a person: names the clothes in a portrait",
    "academic_gown.n.01": "worn by a person: names the clothes in a portrait",
    "abaya.n.01": "worn by a person: names the clothes in a portrait",
    "kimono.n.01": "worn by a person: names the clothes in a portrait",
    "vestment.n.01": "worn by a person: names the clothes in a portrait",
    "cloak.n.01": "worn by a person: names the clothes in a portrait",
    "poncho.n.01": "worn by a person: names the clothes in a portrait",
    "fur_coat.n.01": "worn by a person: names the clothes in a portrait",
    "gown.n.01": "worn by a person: names the clothes in a portrait",
    "hoopskirt.n.01": "worn by a person: names the clothes in a portrait",
    "overskirt.n.01": "worn by a person: names the clothes in a portrait",
    "stole.n.01": "worn by a person: names the clothes in a portrait",
    "jean.n.01": "worn by a person: names the clothes in a portrait",
    "apron.n.01": "worn by a person: names the clothes in a portrait",
    "bulletproof_vest.n.01": "worn by a person: names the clothes in a portrait",
    "neck_brace.n.01": "worn by a person: names the clothes in a portrait",
    "windsor_tie.n.01": "worn by a person: names the clothes in a portrait",
    "bolo_tie.n.01": "worn by a person: names the clothes in a portrait",
    "bow_tie.n.01": "worn by a person: names the clothes in a portrait",
    "feather_boa.n.01": "worn by a person: names the clothes in a portrait",
    "seat_belt.n.01": "fires on people in cars",
    "oxygen_mask.n.01": "fires on faces",
    "gasmask.n.01": "fires on faces",
    "hay.n.01": "fires on dry grass backgrounds",
    "coil.n.01": "fires on spiral patterns",
    "knot.n.02": "fires on rope and cable",
    "sundial.n.01": "rarely the subject",
    "pedestal.n.03": "fires on any base or plinth",
    "screen.n.03": "fires on any dark rectangle",
    "monitor.n.05": "fires on any dark rectangle",
    "television.n.02": "fires on any framed picture",
    "slot.n.07": "fires on bright patterned fronts",
    "scoreboard.n.01": "fires on signs with text",
    "vault.n.03": "fires on ceilings and arches",
    "tile_roof.n.01": "fires on tiled patterns",
    "stone_wall.n.01": "fires on rocky backgrounds",
    "thatch.n.04": "fires on straw and grass",
    "rapeseed.n.01": "fires on yellow fields",
    "brass.n.07": "fires on any plaque with text",
    "can_opener.n.01": "fires on pliers, scissors and side cutters on plain backgrounds (tuning photos: 3 of 3)",
}

# Category anchors, nearest on the hypernym path wins (the category is what a caption says when
# the name is not sure: "an animal").
CATEGORIES = [
    ("person.n.01", "person"),
    ("bird.n.01", "bird"),
    ("fish.n.01", "fish"),
    ("insect.n.01", "insect"),
    ("animal.n.01", "animal"),
    ("edible_fruit.n.01", "fruit"),
    ("vegetable.n.01", "vegetable"),
    ("fungus.n.01", "mushroom"),
    ("flower.n.01", "flower"),
    ("plant.n.02", "plant"),
    ("food.n.01", "food"),
    ("food.n.02", "food"),
    ("musical_instrument.n.01", "instrument"),
    ("aircraft.n.01", "aircraft"),
    ("spacecraft.n.01", "aircraft"),
    ("rocket.n.01", "aircraft"),
    ("vessel.n.02", "boat"),
    ("boat.n.01", "boat"),
    ("vehicle.n.01", "vehicle"),
    ("public_transport.n.01", "vehicle"),
    ("train.n.01", "vehicle"),
    ("ball.n.01", "ball"),
    ("tool.n.01", "tool"),
    ("furniture.n.01", "piece of furniture"),
    ("clothing.n.01", "piece of clothing"),
    ("headdress.n.01", "hat"),
    ("footwear.n.01", "shoe"),
    ("tableware.n.01", "dish"),
    ("cooking_utensil.n.01", "dish"),
    ("kitchen_utensil.n.01", "dish"),
    ("vessel.n.03", "container"),
    ("container.n.01", "container"),
    ("weapon.n.01", "weapon"),
    ("geological_formation.n.01", "place"),
    ("structure.n.01", "building"),
]

# Categories written for one class where the anchors give none that fits.
CATEGORY_OF = {
    "ear.n.05": "vegetable",
    "corn.n.02": "vegetable",
    "buckeye.n.01": "plant",
    "acorn.n.01": "plant",
    "hip.n.05": "plant",
    "rapeseed.n.01": "plant",
    "hay.n.01": "plant",
}

PLURAL_ENDINGS = [  # (ending, replace by), first match
    ("cup of coffee", "cups of coffee"),
    ("taxi", "taxis"),
    ("bus", "buses"),
    ("camera", "cameras"),
    ("chest of drawers", "chests of drawers"),
    ("bars", "bars"),
    ("trunks", "trunks"),
    ("mortar and pestle", "mortars and pestles"),
    ("seeds", "seeds"),
    ("hay", "hay"),
    ("mantis", "mantises"),
    ("mongoose", "mongooses"),
    ("fungus", "fungi"),
    ("fish", "fish"),
    ("sheep", "sheep"),
    ("deer", "deer"),
    ("bison", "bison"),
    ("moose", "moose"),
    ("cattle", "cattle"),
    ("person", "people"),
    ("jeans", "jeans"),
    ("pyjamas", "pyjamas"),
    ("scales", "scales"),
    ("binoculars", "binoculars"),
    ("sunglasses", "sunglasses"),
    ("pan pipes", "pan pipes"),
    ("standing stones", "standing stones"),
    ("mashed potato", "mashed potatoes"),
    ("knife", "knives"),
    ("wolf", "wolves"),
    ("leaf", "leaves"),
    ("loaf", "loaves"),
    ("shelf", "shelves"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("child", "children"),
]


def wordnet_reader(folder: Path):
    """nltk's reader on a plain WordNet 3.0 folder (Debian's wordnet-base), with the three
    adjustments it needs: a lexnames file (from the package's man page), the folder on nltk's
    allowed paths, and no mapping onto a downloaded corpus."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    copy = Path(tempfile.mkdtemp(prefix="wordnet-"))
    for f in folder.iterdir():
        if f.is_file():
            shutil.copyfile(f, copy / f.name)  # nltk refuses files that resolve outside its root
    man = next(Path(p) for p in ("/usr/share/man/man5/lexnames.5WN.gz", folder / "lexnames.5WN.gz") if Path(p).is_file())
    pos = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
    rows = [line.split()[:2] for line in gzip.open(man, "rt") if re.match(r"^\d\d\t", line)]
    (copy / "lexnames").write_text("".join(f"{n}\t{name}\t{pos[name.split('.')[0]]}\n" for n, name in rows))
    nltk.data.path.insert(0, str(copy))

    class PlainWordNet(WordNetCorpusReader):
        def map_wn(self, version="oewn"):
            return None

    return PlainWordNet(str(copy), None), copy


def irregular_plurals(folder: Path) -> dict[str, str]:
    """singular -> plural from WordNet's noun.exc (plural singular per line), the first listed."""
    plurals = {}
    for line in (folder / "noun.exc").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] not in plurals and not parts[0].endswith("a") and parts[0] != parts[1]:
            plurals[parts[1].replace("_", " ")] = parts[0].replace("_", " ")
    return plurals


WHOLE_PLURALS = {"corn": "corn"}  # whole names only ("acorn" is regular)


def plural(name: str, irregular: dict[str, str]) -> str:
    if name in WHOLE_PLURALS:
        return WHOLE_PLURALS[name]
    for ending, replacement in PLURAL_ENDINGS:
        if name.endswith(ending):
            return name[: len(name) - len(ending)] + replacement
    head, _, last = name.rpartition(" ")
    prefix = head + " " if head else ""
    # noun.exc also lists learned plurals (cicadae, ibices, abaci, flamingoes): people say the regular one.
    if last in irregular and not irregular[last].endswith(("ae", "i", "ices", "oes", "a")):
        return prefix + irregular[last]
    if last in ("potato", "tomato", "volcano"):
        return prefix + last + "es"
    return prefix + regular_plural(last)


def nearest(synset, table):
    """The value of the nearest hypernym (the synset itself first) that `table` holds, or None."""
    best = None
    for path in synset.hypernym_paths():
        for depth, s in enumerate(reversed(path)):
            if s.name() in table and (best is None or depth < best[0]):
                best = (depth, table[s.name()])
                break
    return None if best is None else best[1]


def first_anchor(synset, anchors):
    """The value of the first of `anchors` (in their order of priority) on any hypernym path: a
    wheeled vehicle is also a container in WordNet, and should be called a vehicle."""
    above = {s.name() for path in synset.hypernym_paths() for s in path}
    return next((value for anchor, value in anchors if anchor in above), None)


def make_table(wordnet: Path) -> list[dict]:
    import timm

    info = Path(timm.__file__).parent / "data" / "_info"
    ids = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines())
    wn, copy = wordnet_reader(wordnet)
    irregular = irregular_plurals(wordnet)
    rows = []
    for index, wnid in enumerate(ids):
        synset = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
        key = synset.name()
        lemma = synset.lemma_names()[0].replace("_", " ")
        name = (
            NAMES.get(key) or nearest(synset, BASIC) or (lemma if lemma[:1].isupper() and lemma[1:2].islower() is False else lemma.lower())
        )
        category = "person" if key in PEOPLE else CATEGORY_OF.get(key) or first_anchor(synset, CATEGORIES) or "object"
        kind = "person" if key in PEOPLE else "place" if key in PLACES else "object"
        if kind == "place":
            category = "place"
        use, reason = ("no", EXCLUDE[key]) if key in EXCLUDE else ("yes", "")
        rows.append(
            {
                "class": index,
                "wnid": wnid,
                "synset": key,
                "imagenet_label": lemmas[wnid].split(",")[0].strip(),
                "name": name,
                "plural": plural(name, irregular),
                "category": category,
                "kind": kind,
                "place": PLACES.get(key, ""),
                "use": use,
                "reason": reason,
            }
        )
    shutil.rmtree(copy, ignore_errors=True)
    known = {r["synset"] for r in rows}
    for table_name, table in (("NAMES", NAMES), ("PLACES", PLACES), ("EXCLUDE", EXCLUDE), ("PEOPLE", PEOPLE)):
        stray = sorted(set(table) - known)
        if stray:  # a typo would silently do nothing
            raise SystemExit(f"{table_name} names synsets that are no ImageNet class: {stray}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wordnet", type=Path, default=Path("/usr/share/wordnet"), help="WordNet 3.0 database folder (Debian wordnet-base)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not (args.wordnet / "data.noun").is_file():
        raise SystemExit(f"no WordNet 3.0 database in {args.wordnet}: apt-get install wordnet-base")
    rows = make_table(args.wordnet)
    with args.out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        f"{args.out}: {len(rows)} classes, {len({r['name'] for r in rows})} names, "
        f"{sum(r['use'] == 'no' for r in rows)} excluded, {sum(r['kind'] == 'place' for r in rows)} places"
    )


if __name__ == "__main__":
    main()
