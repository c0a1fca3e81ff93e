"""Models covering each way Django sends model signals: plain, FK cascades, proxies,
multi-table inheritance, auto-created and explicit m2m through tables."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    editor = models.ForeignKey(
        Author, on_delete=models.SET_NULL, null=True, blank=True, related_name="edited_books"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="books")

    def __str__(self) -> str:
        return self.title


class ProxyBook(Book):
    class Meta:
        proxy = True


class Place(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Restaurant(Place):
    serves_pizza = models.BooleanField(default=False)


class Shelf(models.Model):
    name = models.CharField(max_length=100)
    books = models.ManyToManyField(Book, through="ShelfEntry", related_name="shelves")

    def __str__(self) -> str:
        return self.name


class ShelfEntry(models.Model):
    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE)
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("position",)
        constraints = (
            models.UniqueConstraint(fields=("shelf", "book"), name="testapp_shelfentry_unique"),
        )

    def __str__(self) -> str:
        return f"{self.shelf} #{self.position}: {self.book}"
