"""Sentence pools for the bundled sample corpus, written for Winnow (not copied from anywhere).

``make_sample.py`` combines them, with a fixed seed, into training text and a small web
crawl (JSONL + WARC) with clean prose, spam, boilerplate and crude comments.
"""

CLEAN = {
    "en": [
        "The river runs slowly through the valley, and in the early morning a thin mist rests on the water.",
        "Farmers in the region grow wheat, barley and potatoes, and most of the harvest is sold at the weekly market.",
        "The town council met on Tuesday to discuss the new library, which will open next spring.",
        "Children from the local school visited the museum and learned how people lived a hundred years ago.",
        "A good bread needs only flour, water, salt and yeast, but the dough should rest for several hours.",
        "The weather service expects rain in the north during the weekend, while the south should stay dry.",
        "Researchers measured the temperature of the lake every day for ten years and found a clear warming trend.",
        "The old bridge was repaired last summer, and cyclists can now cross the river without a long detour.",
        "Reading every evening, even for twenty minutes, helps children build a larger vocabulary.",
        "The committee published its report in March and recommends better public transport for the city.",
        "Volunteers planted three hundred trees along the road, and the first leaves appeared a few weeks later.",
        "The orchestra will perform in the cathedral on Sunday afternoon, and entry is free for everyone.",
        "Our neighbours keep bees in their garden and give us a jar of dark honey every autumn.",
        "The company reported higher sales in the second quarter because of strong demand for electric bicycles.",
        "Walking in the forest is good for body and mind, and many doctors now recommend it.",
        "The new train line connects the airport with the city centre in less than twenty minutes.",
        "Historians believe that the castle was built in the twelfth century to protect the trade route.",
        "Students who sleep well before an exam usually remember more than those who study all night.",
        "The library offers free courses in languages, computing and creative writing for adults.",
        "In the spring the meadows are full of flowers, and the air smells of grass and rain.",
        "The engineer explained how the dam produces electricity and why the water level changes.",
        "Local artists opened a small gallery near the harbour, where they show paintings and pottery.",
        "The doctor advised him to drink more water, eat fresh fruit and take a short walk after meals.",
        "A small team of nurses runs the clinic in the village and sees about forty patients a day.",
        "The recipe calls for two cups of rice, one onion, a little olive oil and fresh vegetables.",
        "Scientists have found that some birds can recognise the faces of the people who feed them.",
        "The festival brings together musicians from many countries for three days of concerts in the park.",
        "After the storm, workers cleared fallen branches from the roads and restored power by evening.",
        "The museum has reopened its east wing, which now holds a collection of old maps and globes.",
        "Parents and teachers agreed that the school day should start half an hour later in winter.",
    ],
    "de": [
        "Der Fluss fließt langsam durch das Tal, und am Morgen liegt ein dünner Nebel über dem Wasser.",
        "Die Bauern der Region bauen Weizen, Gerste und Kartoffeln an und verkaufen die Ernte auf dem Markt.",
        "Der Gemeinderat hat am Dienstag über die neue Bibliothek beraten, die im Frühjahr eröffnet wird.",
        "Die Kinder der Grundschule besuchten das Museum und lernten, wie die Menschen früher im Dorf lebten.",
        "Ein gutes Brot braucht nur Mehl, Wasser, Salz und Hefe, aber der Teig muss mehrere Stunden ruhen.",
        "Der Wetterdienst erwartet am Wochenende Regen im Norden, während es im Süden trocken bleibt.",
        "Die alte Brücke wurde im letzten Sommer repariert, und Radfahrer können den Fluss nun überqueren.",
        "Wer jeden Abend zwanzig Minuten liest, erweitert seinen Wortschatz und entdeckt die Freude an Büchern.",
        "Freiwillige haben dreihundert Bäume entlang der Straße gepflanzt.",
        "Das Orchester spielt am Sonntagnachmittag im Dom, und der Eintritt ist frei.",
        "Unsere Nachbarn halten Bienen im Garten und schenken uns jeden Herbst ein Glas Honig.",
        "Die neue Bahnlinie verbindet den Flughafen in weniger als zwanzig Minuten mit der Innenstadt.",
        "Historiker glauben, dass die Burg im zwölften Jahrhundert zum Schutz der Handelsstraße gebaut wurde.",
        "Im Frühling sind die Wiesen voller Blumen, und die Luft riecht nach Gras und Regen.",
        "Die Ärztin riet ihm, mehr Wasser zu trinken und nach jeder Mahlzeit spazieren zu gehen.",
        "Nach dem Sturm räumten Arbeiter die Straßen frei, und am Abend gab es wieder Strom.",
        "Das Museum zeigt in seinem Ostflügel eine Sammlung alter Landkarten und Globen.",
        "Die Schüler pflanzten im Schulgarten Tomaten, Bohnen und Kräuter für die Küche.",
    ],
    "fr": [
        "La rivière coule lentement à travers la vallée, et le matin une fine brume flotte sur l'eau.",
        "Les agriculteurs de la région cultivent du blé, de l'orge et des pommes de terre.",
        "Le conseil municipal s'est réuni mardi pour parler de la nouvelle bibliothèque.",
        "Les enfants de l'école ont visité le musée et ont appris comment vivaient les habitants du village.",
        "Un bon pain ne demande que de la farine, de l'eau, du sel et de la levure.",
        "Le service météorologique prévoit de la pluie dans le nord ce week-end.",
        "Le vieux pont a été réparé l'été dernier, et les cyclistes peuvent traverser la rivière.",
        "Lire chaque soir, même vingt minutes, aide les enfants à enrichir leur vocabulaire.",
        "Des bénévoles ont planté trois cents arbres le long de la route.",
        "L'orchestre jouera à la cathédrale dimanche après-midi, et l'entrée est gratuite.",
        "Nos voisins élèvent des abeilles et nous offrent chaque automne un pot de miel.",
        "La nouvelle ligne de train relie l'aéroport au centre-ville en moins de vingt minutes.",
        "Au printemps, les prairies sont pleines de fleurs et l'air sent l'herbe et la pluie.",
        "Le médecin lui a conseillé de boire plus d'eau et de marcher après chaque repas.",
        "Après la tempête, les ouvriers ont dégagé les routes et rétabli le courant le soir même.",
        "Le musée présente dans son aile est une collection de cartes anciennes.",
    ],
    "es": [
        "El río pasa despacio por el valle, y por la mañana una niebla fina cubre el agua.",
        "Los agricultores de la región cultivan trigo, cebada y patatas para el mercado semanal.",
        "El ayuntamiento se reunió el martes para hablar de la nueva biblioteca del barrio.",
        "Los niños de la escuela visitaron el museo y aprendieron cómo vivía la gente hace cien años.",
        "Un buen pan solo necesita harina, agua, sal y levadura, pero la masa debe reposar.",
        "El servicio meteorológico espera lluvia en el norte durante el fin de semana.",
        "El puente viejo fue reparado el verano pasado y ahora los ciclistas pueden cruzar el río.",
        "Leer cada noche, aunque sean veinte minutos, ayuda a los niños a ampliar su vocabulario.",
        "Los voluntarios plantaron trescientos árboles a lo largo de la carretera.",
        "La orquesta tocará en la catedral el domingo por la tarde y la entrada es gratuita.",
        "Nuestros vecinos tienen abejas en el jardín y cada otoño nos regalan un tarro de miel.",
        "La nueva línea de tren une el aeropuerto con el centro en menos de veinte minutos.",
    ],
}

# Spam and boilerplate: what a quality filter should drop.
SPAM = {
    "en": [
        "BUY NOW!!! Cheap watches cheap bags cheap shoes best price best price click here",
        "Click here to win a free phone free phone free phone limited offer act now",
        "Best casino bonus 500% bonus free spins free spins no deposit sign up today",
        "Lose 20 kg in 10 days with this one weird trick doctors hate, order now",
        "cheap loans fast loans no credit check loans online loans apply now apply now",
        "Hot deals hot deals hot deals 90% off everything today only click click click",
    ],
    "de": [
        "JETZT KAUFEN!!! Billige Uhren billige Taschen bester Preis hier klicken",
        "Gratis Handy gewinnen gratis Handy gratis Handy nur heute jetzt klicken",
    ],
    "fr": [
        "ACHETEZ MAINTENANT !!! Montres pas cher sacs pas cher meilleur prix cliquez ici",
    ],
}

BOILERPLATE = {
    "en": [
        "Home | About us | Contact | Login | Register | Cart (0)",
        "We use cookies to improve your experience. By continuing you accept our cookie policy. Accept | Decline",
        "Copyright 2024 All rights reserved. Privacy policy | Terms of use | Sitemap",
        "Share on Facebook | Share on Twitter | Share by email | Print this page",
        "Previous page | Next page | Page 1 of 12 | Back to top",
    ],
    "de": [
        "Startseite | Über uns | Kontakt | Anmelden | Warenkorb (0)",
        "Wir verwenden Cookies. Mit der Nutzung der Seite stimmen Sie zu. Akzeptieren | Ablehnen",
    ],
}

# Crude, insulting comments (mild, made up): what a harmful-text model should recognise.
CRUDE = [
    "You are a stupid idiot and nobody wants to hear your garbage opinions, so shut up.",
    "What a pathetic loser, go crawl back under your rock you worthless clown.",
    "Shut your mouth, moron, you are too dumb to understand anything.",
    "This idiot again, what a brainless fool, everybody hates you.",
    "Get lost you pathetic creep, nobody asked for your stupid trash.",
    "You dumb clown, you are the most worthless piece of garbage on this site.",
    "Shut up loser, your posts are trash and you are an idiot.",
    "Nobody likes you, you stupid jerk, go away and never come back.",
    "What a moron, seriously, how can anyone be this dumb and pathetic.",
    "You worthless fool, stop posting your brainless garbage here.",
    "Hey idiot, you are a total loser and a stupid creep.",
    "Go away you dumb jerk, everybody thinks you are a pathetic clown.",
    "Only a brainless moron would write something this stupid.",
    "Your comment is garbage and so are you, idiot.",
]
