from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=50)
    price = models.IntegerField(default=0)
    status = models.CharField(max_length=10, default="new")

    def __str__(self) -> str:
        return self.name
