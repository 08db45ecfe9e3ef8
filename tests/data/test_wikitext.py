"""Wikitext to article text: what a reader sees, with the markup a byte model would waste itself on gone."""

from titans.data.wikitext import article_text, wiki_articles

PAGE = """{{Infobox country|name=Xland|capital=[[Ytown]]}}
'''Xland''' is a [[country]] in [[Europe|western Europe]].<ref>{{cite web|title=Atlas}}</ref> Its capital is
[[Ytown]].
[[File:Flag of Xland.svg|thumb|200px|The flag]]
{| class="wikitable"
|-
| cell one || cell two
|}

== History ==
Xland was founded in 1200.<ref name="a">Some book, p. 3.</ref>

== References ==
<references />

== External links ==
* {{Official website|example.org}}

[[Category:Countries]]
[[de:Xland]]
"""


def test_article_text_keeps_prose_and_link_text_and_drops_markup():
    text = article_text(PAGE)
    assert text == ("Xland is a country in western Europe. Its capital is\nYtown.\nHistory\n"
                    "Xland was founded in 1200.")
    for gone in ("Infobox", "cite", "Atlas", "thumb", "cell one", "Category", "Some book", "de:", "References",
                 "External links", "[[", "{{", "<ref"):
        assert gone not in text


def test_wiki_articles_skip_redirects_and_other_namespaces():
    xml = """<mediawiki>
  <page><title>Xland</title><ns>0</ns><revision><text xml:space="preserve">'''Xland''' &amp; co.</text></revision></page>
  <page><title>XLand</title><ns>0</ns><revision><text xml:space="preserve">#REDIRECT [[Xland]]</text></revision></page>
  <page><title>Talk:Xland</title><ns>1</ns><revision><text xml:space="preserve">Chat.</text></revision></page>
  <page><title>Empty</title><ns>0</ns><revision><text xml:space="preserve">{{stub}}</text></revision></page>
</mediawiki>"""
    docs = wiki_articles(xml)
    assert [(d.name, d.text) for d in docs] == [("Xland", "Xland\n\nXland & co.")]
